"""The graph projector: keeps a GraphStore (Neo4j or its PostgreSQL twin) in step with the
outbox, on the `Projector` port. Orders, products, categories and reviews are read back from
PostgreSQL as facts (the current state, so a repeat or a late event writes the same thing);
storefront batches are counted once each (the graph remembers the batches it applied).

Weights are maintained incrementally and exactly: the graph keeps each order's contribution
(its Order node: counted or not, which products), and a changed order moves the weights by the
difference between what it contributed and what it contributes now. Projecting the same order
twice therefore changes nothing, and a cancellation or a refund takes its weight back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import redis

from polyshop.adapters.postgres import Database, PostgresSimilarCatalog, save_checkpoint
from polyshop.domain.events import Aggregate, Event
from polyshop.domain.recommendations import (
    TREND_WEIGHTS,
    Bought,
    CategoryFact,
    Interaction,
    OrderFact,
    PairDeltas,
    ProductFact,
    Purchases,
    RecommendationKind,
    ReviewFact,
    also_bought_delta,
    counted_moves,
    moved_lists,
    order_counts,
    order_delta,
    purchase_writes,
    purchases_after,
    snapshot_drift,
    snapshot_lists,
    trend_contribution,
)
from polyshop.ports import (
    Advance,
    Checkpoint,
    Drift,
    GraphStore,
    GraphWriter,
    OutboxEvent,
    Reader,
    SimilarCatalog,
    Target,
    list_label,
)
from polyshop.sync._graph_bulk import PRODUCT_FOR_SALE, bulk_load
from polyshop.sync._graph_reference import FactsCatalog as FactsCatalog
from polyshop.sync._graph_reference import ReferenceGraph
from polyshop.sync._graph_verify import LABELS as VERIFIED
from polyshop.sync._graph_verify import VERIFY_CHUNK
from polyshop.sync._graph_verify import merge as merge
from polyshop.sync._graph_verify import stored_lists as stored_lists
from polyshop.sync._graph_verify import verify_graph as verify_graph

log = logging.getLogger(__name__)

STOREFRONT_EVENT = str(Event.STOREFRONT_EVENTS_RECORDED)
_INTERACTIONS = {"view": "viewed", "add_to_cart": "added_to_cart"}
_V = TypeVar("_V")


@dataclass
class GraphChanges:
    """What one tenant's events ask the graph to become (facts) or to count (interactions)."""

    categories: dict[UUID, CategoryFact] = field(default_factory=dict)
    products: dict[UUID, ProductFact] = field(default_factory=dict)
    orders: dict[UUID, OrderFact] = field(default_factory=dict)
    reviewed_products: set[UUID] = field(default_factory=set)
    reviews: list[ReviewFact] = field(default_factory=list)
    batches: dict[int, list[Interaction]] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.categories or self.products or self.orders or self.reviewed_products
                    or self.batches)  # fmt: skip

    def merge(self, other: GraphChanges) -> None:
        self.categories.update(other.categories)
        self.products.update(other.products)
        self.orders.update(other.orders)
        self.reviewed_products |= other.reviewed_products
        self.reviews += other.reviews
        self.batches.update(other.batches)


@dataclass(frozen=True, slots=True)
class TenantGraphChanges:
    """The projector's change: one tenant's facts, built from one snapshot."""

    tenant_id: UUID
    changes: GraphChanges


# ---------------------------------------------------------------- facts from PostgreSQL

_PRODUCTS = (
    "SELECT p.id, p.name, " + PRODUCT_FOR_SALE + ", p.category_id, p.brand_id,"
    " coalesce((SELECT array_agg(a.name || '=' || a.value ORDER BY a.name, a.value)"
    " FROM product_attributes a WHERE a.tenant_id = p.tenant_id AND a.product_id = p.id), '{}')"
    " FROM products p WHERE p.id = ANY(%s)"
)
_ORDERS = (
    "SELECT o.id, o.user_id, o.created_at, o.status, o.payment_status,"
    " (SELECT array_agg(DISTINCT i.product_id) FROM order_items i"
    "   WHERE i.tenant_id = o.tenant_id AND i.order_id = o.id),"
    " coalesce((SELECT y.payment_method FROM payments y WHERE y.tenant_id = o.tenant_id"
    "   AND y.order_id = o.id ORDER BY y.created_at, y.id LIMIT 1), 'none')"
    " FROM orders o WHERE o.id = ANY(%s)"
)


async def _fetch(reader: Reader, sql: str, ids: Iterable[Any]) -> list[Any]:
    cursor = await reader.connection.execute(sql, (list(ids),))
    return await cursor.fetchall()


async def product_facts(reader: Reader, ids: Iterable[UUID]) -> list[ProductFact]:
    rows = await _fetch(reader, _PRODUCTS, ids)
    return [ProductFact(r[0], r[1], r[2], r[3], r[4], tuple(r[5])) for r in rows]


async def order_facts(reader: Reader, ids: Iterable[UUID]) -> list[OrderFact]:
    rows = await _fetch(reader, _ORDERS, ids)
    return [
        OrderFact(r[0], r[1], r[2].astimezone(UTC), order_counts(r[3], r[4]),
                  tuple(sorted(r[5] or [], key=str)), r[6])
        for r in rows
    ]  # fmt: skip


async def category_facts(reader: Reader, ids: Iterable[UUID]) -> list[CategoryFact]:
    rows = await _fetch(
        reader, "SELECT id, name, parent_id FROM categories WHERE id = ANY(%s)", ids
    )
    return [CategoryFact(*r) for r in rows]


async def review_facts(reader: Reader, product_ids: Iterable[UUID]) -> list[ReviewFact]:
    """A customer's latest review of each product (a customer may review per order)."""
    rows = await _fetch(
        reader,
        "SELECT DISTINCT ON (product_id, user_id) user_id, product_id, rating, created_at"
        " FROM reviews WHERE product_id = ANY(%s) ORDER BY product_id, user_id, created_at DESC, id",
        product_ids,
    )
    return [ReviewFact(r[0], r[1], r[2], r[3].astimezone(UTC)) for r in rows]


def interactions(payload: dict[str, Any]) -> list[Interaction]:
    found = []
    for e in payload.get("events", []):
        kind = _INTERACTIONS.get(e.get("type"))
        if kind is None or not e.get("product_id"):
            continue
        found.append(Interaction(
            kind, UUID(e["product_id"]),
            UUID(e["customer_id"]) if e.get("customer_id") else None,
            datetime.fromisoformat(e["occurred_at"]).astimezone(UTC),
        ))  # fmt: skip
    return found


def targets_of(event: OutboxEvent) -> set[Target]:
    kind, key = event.aggregate_type, event.aggregate_id
    if event.event_type == STOREFRONT_EVENT:
        return {("storefront", str(event.id))}
    if kind in (Aggregate.ORDER, Aggregate.PRODUCT, Aggregate.CATEGORY):
        return {(str(kind), str(UUID(key)))}
    if kind == Aggregate.REVIEW:
        return {("reviews", str(UUID(str(event.payload["product_id"]))))}
    return set()


async def build_changes(reader: Reader, targets: Collection[Target]) -> GraphChanges:
    """Read the current facts behind these targets (of the reader's tenant)."""
    wanted: dict[str, set[Any]] = defaultdict(set)
    for kind, key in targets:
        wanted[kind].add(int(key) if kind == "storefront" else UUID(key))
    changes = GraphChanges()
    changes.categories = {f.id: f for f in await category_facts(reader, wanted["category"])}
    changes.products = {f.id: f for f in await product_facts(reader, wanted["product"])}
    changes.orders = {f.id: f for f in await order_facts(reader, wanted["order"])}
    changes.reviewed_products = set(wanted["reviews"])
    changes.reviews = await review_facts(reader, wanted["reviews"])
    if wanted["storefront"]:
        rows = await _fetch(reader, "SELECT id, payload FROM outbox WHERE id = ANY(%s)"
                            " ORDER BY id", wanted["storefront"])  # fmt: skip
        changes.batches = {row[0]: interactions(row[1]) for row in rows}
    return changes


# ---------------------------------------------------------------- applying facts to a graph


async def apply_changes(
    writer: GraphWriter, changes: GraphChanges, similar: SimilarCatalog | None = None,
    *, fresh: bool = False,
) -> None:  # fmt: skip
    """Store the facts and move the maintained weights by exactly what changed. `similar` ranks
    SIMILAR_TO (needed when products changed); `fresh`: the graph is empty and `changes` hold
    every product (a reference built from scratch), so no other product's list can move."""
    if changes.categories:
        await writer.put_categories(list(changes.categories.values()))
    if changes.products:
        if similar is None:
            raise ValueError("product changes need a SimilarCatalog to rank SIMILAR_TO")
        await _products(writer, list(changes.products.values()), similar, fresh=fresh)
    if changes.orders:
        await _orders(writer, list(changes.orders.values()))
    if changes.reviewed_products:
        await writer.replace_reviews(changes.reviewed_products, changes.reviews)
    if changes.batches:
        unapplied = await writer.unapplied(changes.batches.keys())
        if unapplied:
            rows = [r for batch in sorted(unapplied) for r in changes.batches[batch]]
            trend: dict[UUID, list[float]] = defaultdict(lambda: [0.0, 0])
            for r in rows:
                weight = TREND_WEIGHTS["view" if r.kind == "viewed" else "add_to_cart"]
                trend[r.product_id][0] += trend_contribution(weight, r.at)
            await writer.add_interactions(unapplied, rows)
            await writer.add_trend({p: (t, 0) for p, (t, _) in trend.items()})


async def _products(
    writer: GraphWriter, facts: list[ProductFact], similar: SimilarCatalog, *, fresh: bool
) -> None:
    """Store the products, then bring SIMILAR_TO to each product's best K (directed) exactly as
    a computation from scratch would, with work bounded by the changed products' neighbourhood.

    A product P's top K (`top_similar`: similar products for sale, score desc then id) depends
    only on the scores score(P, Q). A batch of changed products X (category, brand, attributes,
    for sale or not) changes score(P, X) only. So, for a product P outside the batch:
    - if no X is in P's stored list and no X would enter it (`enters_top`: the list is not full,
      or X's new (score, id) ranks before its k-th), P's list is unchanged: its members' scores
      did not move, every other product ranks after its k-th as before, no X ranks before it;
    - if every X in P's list kept or raised its score (and is still a candidate), the new list
      is the best K of its other members and the new edges P -> X (`moved_lists`): anything
      else ranked after the old k-th and still does. No ranking of the catalog is needed;
    - if an X in P's list lost score or is no longer a candidate (off sale, nothing shared),
      P may need its (K+1)-th: P is ranked again over the catalog.
    The products looked at are the stored sources of an edge to an X (`similar_sources`) and
    those an X now reaches (`similar_admits` over `reaching`: the new edges P -> X for the
    products P sharing a category or a brand with an X for sale, each compared with its own
    k-th in the store). The products ranked over the catalog are the changed ones and the
    third case, by the SQL that builds the graph from scratch (`SimilarCatalog.top_similar`).

    Exactness across batches: a list is the ranking of the catalog of some snapshot at least as
    recent as the facts it was made from; a product changed after that snapshot has an event
    not projected yet, whose batch checks the list against the product's newer state (in a later
    snapshot). A list ranked in a newer catalog than a product's event is checked again when
    that event comes, and found unchanged or updated: either way the lists end equal to the
    ranking of the final catalog (`sync verify graph` compares them with it).
    """
    await writer.put_products(facts)
    changed = {f.id for f in facts}
    if fresh:
        await writer.replace_similar(changed, await similar.top_similar(changed))
        return
    reaching = await similar.reaching(changed)
    touched = (await writer.similar_sources(changed) - changed) | await writer.similar_admits(
        reaching
    )
    moved, again = moved_lists(await writer.similar_lists(touched), reaching, changed)
    ranked = changed | again
    edges = await similar.top_similar(ranked)
    await writer.replace_similar(
        ranked | moved.keys(), edges + [e for mine in moved.values() for e in mine]
    )


class _Ids:
    """The batch's ids as their integers (`UUID.int`) for the increments, and back to the same
    UUID objects for the writes: the increments hash and compare ids in C (see
    `domain.recommendations.Id`), and no UUID is parsed or built again."""

    __slots__ = ("uuid",)

    def __init__(self) -> None:
        self.uuid: dict[int, UUID] = {}

    def key(self, uuid: UUID) -> int:
        number = uuid.int
        self.uuid[number] = uuid
        return number

    def purchases(self, bought: Bought) -> Purchases[int]:
        key = self.key
        return {key(u): {key(p): v for p, v in mine.items()} for u, mine in bought.items()}

    def uuids(self, numbers: Iterable[int]) -> list[UUID]:
        return list(map(self.uuid.__getitem__, numbers))

    def pairs(self, rows: Mapping[tuple[int, int], _V]) -> dict[tuple[UUID, UUID], _V]:
        uuid = self.uuid
        return {(uuid[a], uuid[b]): v for (a, b), v in rows.items()}

    def pair_deltas(self, deltas: Mapping[tuple[int, int], int]) -> PairDeltas:
        return PairDeltas.numbered(deltas, self.uuid)


async def _orders(writer: GraphWriter, facts: list[OrderFact]) -> None:
    """One read of the stored orders and their customers' PURCHASED per batch (one round trip
    where the store can: `orders_and_purchased`); every weight moves by an increment computed
    here (on integer ids: `_Ids`), each kind of write in one statement."""
    # The customers' PURCHASED are read with the orders, before the batch's first write
    # (`put_orders` does not touch them): those of every fact's customer, as an order keeps its
    # customer; a stored order's other customer (none expected) is read after.
    stored, bought = await writer.orders_and_purchased(
        [f.id for f in facts], {f.user_id for f in facts}
    )
    changes = [(stored.get(f.id), f) for f in facts if stored.get(f.id) != f]
    if not changes:
        return
    # The orders first: the increments below need only `changes`, and a store that does not
    # wait for its writes (Neo4j: `Neo4jGraphWriter._send`) puts them while they are computed.
    await writer.put_orders([new for _, new in changes])
    ids = _Ids()
    moves = counted_moves(changes, ids.key)
    delta = order_delta(moves)
    users = delta.touched_users
    missing = ids.uuids(users - {ids.key(f.user_id) for f in facts})
    if missing:  # `put_orders` does not touch PURCHASED: they are as they were
        bought.update(await writer.purchased(missing))
    # Only the touched customers' (a repeated fact's customer moves nothing).
    before = {u: mine for u, mine in ids.purchases(bought).items() if u in users}
    if users:
        after, shrunk = purchases_after(before, moves)
        if shrunk:  # a cancellation or a refund: only the orders know the new last time
            recounted = ids.purchases(await writer.bought(ids.uuids(shrunk)))
            after.update({user: recounted.get(user, {}) for user in shrunk})
        await writer.put_purchased(ids.pairs(purchase_writes(before, after)))
    await writer.add_pairs(
        RecommendationKind.BOUGHT_TOGETHER, ids.pair_deltas(delta.bought_together)
    )
    if users:
        await writer.add_pairs(
            RecommendationKind.ALSO_BOUGHT,
            ids.pair_deltas(also_bought_delta({u: set(p) for u, p in before.items()},
                                              {u: set(p) for u, p in after.items()})),
        )  # fmt: skip
    if delta.trend:
        await writer.add_trend(dict(zip(ids.uuids(delta.trend), delta.trend.values(),
                                        strict=True)))  # fmt: skip


class GraphProjector:
    """Projects the outbox into a GraphStore (one transaction per tenant and batch); the
    checkpoint is saved in PostgreSQL after the graph has the batch, so a crash in between
    repeats the batch, which changes nothing."""

    def __init__(
        self, database: Database, store: GraphStore, *, name: str = "graph",
        on_change: Callable[[UUID], Awaitable[None]] | None = None,
        verify_chunk: int = VERIFY_CHUNK,
    ) -> None:  # fmt: skip
        self.database = database
        self.store = store
        self.name = name
        self.verify_chunk = verify_chunk  # items per page of each side of `verify_tenant`
        # Told after a tenant's graph changed (the recommendation cache's generation).
        self._on_change = on_change

    async def targets(
        self, reader: Reader, events: Sequence[OutboxEvent]
    ) -> Mapping[int, Collection[Target]]:
        return {event.id: found for event in events if (found := targets_of(event))}

    async def build(
        self, reader: Reader, targets: Collection[Target], version: int
    ) -> list[TenantGraphChanges]:
        return [TenantGraphChanges(reader.tenant_id, await build_changes(reader, targets))]

    async def apply(
        self, changes: Sequence[TenantGraphChanges], checkpoint: Checkpoint | None
    ) -> int:
        applied = 0
        for change in changes:
            if change.changes.empty():
                continue
            async with self.store.writer(change.tenant_id) as writer:
                if change.changes.products:
                    # SIMILAR_TO is ranked over the catalog in SQL (reads only).
                    async with self.database.unit_of_work(change.tenant_id) as uow:
                        catalog = PostgresSimilarCatalog(uow.connection)
                        await apply_changes(writer, change.changes, catalog)
                else:
                    await apply_changes(writer, change.changes)
            applied += 1
            await self._changed(change.tenant_id)
        if checkpoint is not None:
            async with self.database.unit_of_work() as uow:
                await save_checkpoint(uow.connection, checkpoint)
                await uow.commit()
        return applied

    async def _changed(self, tenant_id: UUID) -> None:
        if self._on_change is None:
            return
        try:
            await self._on_change(tenant_id)
        except (redis.RedisError, OSError):  # the cache's TTL bounds the staleness
            log.warning("could not retire cached recommendations of tenant %s", tenant_id)

    # ---- rebuild and verify -----------------------------------------------------------------

    async def everything(self, reader: Reader) -> Collection[Target]:
        found: set[Target] = set()
        for kind, table in (("category", "categories"), ("product", "products"),
                            ("order", "orders"), ("reviews", "products")):  # fmt: skip
            cursor = await reader.connection.execute(f"SELECT id FROM {table}")
            found |= {(kind, str(row[0])) for row in await cursor.fetchall()}
        cursor = await reader.connection.execute(
            "SELECT id FROM outbox WHERE event_type = %s", (STOREFRONT_EVENT,)
        )
        found |= {("storefront", str(row[0])) for row in await cursor.fetchall()}
        return found

    async def reset(self, tenant_id: UUID) -> None:
        await self.store.clear(tenant_id)

    async def bulk_rebuild(self, tenant_id: UUID) -> int:
        """Empty the tenant's graph and build it set-based from PostgreSQL (the same graph as
        projecting every event, in a fraction of the time: `_graph_bulk`)."""
        written = await bulk_load(self.database, self.store, tenant_id)
        await self._changed(tenant_id)
        return written

    # StreamingProjector: `sync rebuild|verify graph` per tenant; progress in labels and types.

    async def size(self, tenant_id: UUID) -> int:
        return len(VERIFIED) + len(self.store.lists)  # and the store's for-sale lists

    async def rebuild_tenant(self, tenant_id: UUID, advance: Advance) -> int:
        written = await self.bulk_rebuild(tenant_id)
        advance(await self.size(tenant_id))
        return written

    async def verify_tenant(self, tenant_id: UUID, advance: Advance) -> Drift:
        """The stored graph against PostgreSQL's facts in bounded memory (`_graph_verify`):
        each label and type streamed from both sides in key order and merged, then the
        store's for-sale lists against the ranking of the expected relationships."""
        return await verify_graph(
            self.database, self.store, tenant_id, trend_scale(), self.verify_chunk, advance
        )

    async def compare(self, tenant_id: UUID, expected: Sequence[TenantGraphChanges]) -> Drift:
        """The stored graph against the graph these facts make from scratch (built in memory),
        node by node and relationship by relationship, and the store's for-sale lists with
        the reference's relationships ranked: the projector's own path, which the streamed
        `verify_tenant` is tested against (`sync verify` uses that one)."""
        everything = GraphChanges()
        for change in expected:
            everything.merge(change.changes)
        reference = ReferenceGraph()
        async with self.database.unit_of_work(tenant_id) as uow:  # SIMILAR_TO from scratch
            await apply_changes(
                reference, everything, PostgresSimilarCatalog(uow.connection), fresh=True
            )
        wanted = reference.snapshot()
        for relationship, length in self.store.lists.items():
            wanted[list_label(relationship)] = snapshot_lists(wanted, relationship, length)
        stored = await self.store.snapshot(tenant_id) | await stored_lists(self.store, tenant_id)
        missing, extra, different = snapshot_drift(wanted, stored, float_scale=trend_scale())
        return Drift(
            missing=[(tenant_id, label, key) for label, key in missing],
            extra=[(tenant_id, label, key) for label, key in extra],
            different=[(tenant_id, label, key) for label, key in different],
            checked=sum(len(items) for items in wanted.values()),
        )


def trend_scale() -> float:
    """Trend sums compare within 1e-9 of a contribution made now (forward decay grows)."""
    return trend_contribution(1.0, datetime.now(UTC))
