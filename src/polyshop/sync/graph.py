"""The graph projector: keeps a GraphStore (Neo4j or its PostgreSQL twin) in step with the
outbox. Orders, products, categories and reviews are read back from PostgreSQL as facts (the
current state, so a repeat or a late event writes the same thing); storefront batches are
counted once each (the graph remembers the batches it applied).

Weights are maintained incrementally and exactly: the graph keeps each order's contribution
(its Order node: counted or not, which products), and a changed order moves the weights by the
difference between what it contributed and what it contributes now. Projecting the same order
twice therefore changes nothing, and a cancellation or a refund takes its weight back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
import redis
from neo4j.exceptions import DriverError, Neo4jError, TransientError

from polyshop.adapters.postgres import Database, UnitOfWork
from polyshop.adapters.postgres._shared_sql import save_checkpoint
from polyshop.domain.recommendations import (
    TREND_WEIGHTS,
    CategoryFact,
    Interaction,
    OrderFact,
    ProductFact,
    RecommendationKind,
    ReviewFact,
    Similarity,
    also_bought_delta,
    order_counts,
    order_delta,
    similarity,
    snapshot_differences,
    trend_contribution,
)
from polyshop.ports import Checkpoint, GraphSnapshot, GraphStore, GraphWriter
from polyshop.sync._graph_reference import ReferenceGraph
from polyshop.sync.maintenance import _head
from polyshop.sync.relay import OutboxEvent, Relay

log = logging.getLogger(__name__)

STOREFRONT_EVENT = "storefront.events_recorded"
_INTERACTIONS = {"view": "viewed", "add_to_cart": "added_to_cart"}


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


# ---------------------------------------------------------------- facts from PostgreSQL

_PRODUCTS = (
    "SELECT p.id, p.name, p.status = 'active', p.category_id, p.brand_id,"
    " coalesce((SELECT array_agg(a.name || '=' || a.value ORDER BY a.name, a.value)"
    " FROM product_attributes a WHERE a.tenant_id = p.tenant_id AND a.product_id = p.id), '{}')"
    " FROM products p WHERE p.id = ANY(%s)"
)
_ORDERS = (
    "SELECT o.id, o.user_id, o.created_at, o.status,"
    " (SELECT array_agg(DISTINCT i.product_id) FROM order_items i"
    "   WHERE i.tenant_id = o.tenant_id AND i.order_id = o.id),"
    " coalesce((SELECT y.payment_method FROM payments y WHERE y.tenant_id = o.tenant_id"
    "   AND y.order_id = o.id ORDER BY y.created_at, y.id LIMIT 1), 'none')"
    " FROM orders o WHERE o.id = ANY(%s)"
)


async def _fetch(uow: UnitOfWork, sql: str, ids: Iterable[Any]) -> list[Any]:
    cursor = await uow.connection.execute(sql, (list(ids),))
    return await cursor.fetchall()


async def product_facts(uow: UnitOfWork, ids: Iterable[UUID]) -> list[ProductFact]:
    rows = await _fetch(uow, _PRODUCTS, ids)
    return [ProductFact(r[0], r[1], r[2], r[3], r[4], tuple(r[5])) for r in rows]


async def order_facts(uow: UnitOfWork, ids: Iterable[UUID]) -> list[OrderFact]:
    rows = await _fetch(uow, _ORDERS, ids)
    return [
        OrderFact(r[0], r[1], r[2].astimezone(UTC), order_counts(r[3]),
                  tuple(sorted(r[4] or [], key=str)), r[5])
        for r in rows
    ]  # fmt: skip


async def category_facts(uow: UnitOfWork, ids: Iterable[UUID]) -> list[CategoryFact]:
    rows = await _fetch(uow, "SELECT id, name, parent_id FROM categories WHERE id = ANY(%s)", ids)
    return [CategoryFact(*r) for r in rows]


async def review_facts(uow: UnitOfWork, product_ids: Iterable[UUID]) -> list[ReviewFact]:
    """A customer's latest review of each product (a customer may review per order)."""
    rows = await _fetch(
        uow,
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


async def changes_for(uow: UnitOfWork, events: Iterable[OutboxEvent]) -> GraphChanges:
    """Read the current facts behind these events (one tenant's)."""
    wanted: dict[str, set[UUID]] = defaultdict(set)
    changes = GraphChanges()
    for event in events:
        kind = event.aggregate_type
        if event.event_type == STOREFRONT_EVENT:
            changes.batches[event.id] = interactions(event.payload)
        elif kind in ("order", "product", "category"):
            wanted[kind].add(UUID(event.aggregate_id))
        elif kind == "review":
            wanted["review"].add(UUID(str(event.payload["product_id"])))
    # A category's products are built with it, so its facts come first.
    changes.categories = {f.id: f for f in await category_facts(uow, wanted["category"])}
    changes.products = {f.id: f for f in await product_facts(uow, wanted["product"])}
    changes.orders = {f.id: f for f in await order_facts(uow, wanted["order"])}
    changes.reviewed_products = wanted["review"]
    changes.reviews = await review_facts(uow, wanted["review"])
    return changes


# ---------------------------------------------------------------- applying facts to a graph


async def apply_changes(writer: GraphWriter, changes: GraphChanges) -> None:
    """Store the facts and move the maintained weights by exactly what changed."""
    if changes.categories:
        await writer.put_categories(list(changes.categories.values()))
    if changes.products:
        await _products(writer, list(changes.products.values()))
    if changes.orders:
        await _orders(writer, list(changes.orders.values()))
    if changes.reviewed_products:
        await writer.replace_reviews(changes.reviewed_products, changes.reviews)
    if changes.batches:
        fresh = await writer.unapplied(changes.batches.keys())
        if fresh:
            rows = [r for batch in sorted(fresh) for r in changes.batches[batch]]
            trend: dict[UUID, list[float]] = defaultdict(lambda: [0.0, 0])
            for r in rows:
                weight = TREND_WEIGHTS["view" if r.kind == "viewed" else "add_to_cart"]
                trend[r.product_id][0] += trend_contribution(weight, r.at)
            await writer.add_interactions(fresh, rows)
            await writer.add_trend({p: (t, 0) for p, (t, _) in trend.items()})


async def _products(writer: GraphWriter, facts: list[ProductFact]) -> None:
    await writer.put_products(facts)
    candidates = {f.id: f for f in await writer.similarity_candidates(facts)}
    changed = {f.id for f in facts}
    edges: dict[tuple[UUID, UUID], Similarity] = {}
    for fact in facts:
        for other in candidates.values():
            found = similarity(fact, other)
            if found is not None:
                edges[(fact.id, other.id)] = found
                edges[(other.id, fact.id)] = found
    await writer.replace_similar(
        changed, [(a, b, s) for (a, b), s in sorted(edges.items(), key=lambda kv: str(kv[0]))]
    )


async def _orders(writer: GraphWriter, facts: list[OrderFact]) -> None:
    stored = await writer.orders([f.id for f in facts])
    delta = order_delta((stored.get(f.id), f) for f in facts)
    changed = [f for f in facts if stored.get(f.id) != f]
    if not changed:
        return
    await writer.put_orders(changed)
    users = delta.touched_users
    before = await writer.purchased(users) if users else {}
    after = await writer.bought(users) if users else {}
    if users:
        await writer.set_purchased(users, after)
    await writer.add_pairs(RecommendationKind.BOUGHT_TOGETHER, delta.bought_together)
    await writer.add_pairs(
        RecommendationKind.ALSO_BOUGHT,
        also_bought_delta({u: set(p) for u, p in before.items()},
                          {u: set(p) for u, p in after.items()}),
    )  # fmt: skip
    if delta.trend:
        await writer.add_trend(delta.trend)


class GraphProjector:
    """Projects one tenant's events into a GraphStore."""

    name = "graph"

    def __init__(
        self, database: Database, store: GraphStore, *,
        on_change: Callable[[UUID], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self.database = database
        self.store = store
        # Told after the tenant's graph changed (the recommendation cache's generation).
        self._on_change = on_change

    async def project(self, tenant_id: UUID, events: list[OutboxEvent]) -> GraphChanges:
        async with self.database.unit_of_work(tenant_id) as uow:
            changes = await changes_for(uow, events)
        if not changes.empty():
            async with self.store.writer(tenant_id) as writer:
                await apply_changes(writer, changes)
            if self._on_change is not None:
                try:
                    await self._on_change(tenant_id)
                except (redis.RedisError, OSError):  # the cache's TTL bounds staleness
                    log.warning("could not invalidate recommendations of %s", tenant_id)
        return changes


# Failures of the graph store: the batch is retried from the checkpoint (nothing is parked:
# the facts are fine, the store is not).
STORE_ERRORS = (DriverError, TransientError, OSError, psycopg.OperationalError)


class GraphRelay(Relay):
    """The outbox relay for the graph: the same ordering, checkpoints and wake-up as the
    document relay; each batch is applied per tenant, then the checkpoint is saved (every
    application is idempotent, so a crash in between only repeats harmless work)."""

    def __init__(
        self, database: Database, projector: GraphProjector, *, batch_size: int = 200
    ) -> None:
        self._database = database
        self._graph = projector
        self._batch_size = batch_size
        self._max_attempts = 3
        self.name = projector.name

    async def step(self) -> int:
        events = await self._fetch(await self.checkpoint())
        if not events:
            return 0
        by_tenant: dict[UUID, list[OutboxEvent]] = defaultdict(list)
        for event in events:
            by_tenant[event.tenant_id].append(event)
        for tenant_id, tenant_events in by_tenant.items():
            try:
                await self._graph.project(tenant_id, tenant_events)
            except (psycopg.DataError, ValueError, KeyError, TypeError, Neo4jError) as exc:
                if isinstance(exc, STORE_ERRORS):
                    raise
                await self._park(
                    tenant_id, tenant_events,
                    {e.id: f"{type(exc).__name__}: {exc}" for e in tenant_events},
                )  # fmt: skip
        last = events[-1]
        await self.save(Checkpoint(self.name, last.transaction_id, last.id))
        return len(events)

    async def run(self, listen_url: str, stop: asyncio.Event, *, poll_seconds: float = 1.0) -> None:
        """Like the document relay, and it outlives an unreachable graph store: the failed batch
        is retried from the checkpoint once the store is back."""
        while not stop.is_set():
            try:
                await super().run(listen_url, stop, poll_seconds=poll_seconds)
            except STORE_ERRORS as exc:
                log.warning("sync %s: graph store unavailable (%s); retrying", self.name, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_seconds)

    async def save(self, position: Checkpoint) -> None:
        async with self._database.unit_of_work() as uow:
            await save_checkpoint(
                uow.connection, Checkpoint(self.name, position.transaction_id, position.event_id)
            )
            await uow.commit()


# ---------------------------------------------------------------- rebuild and verify

Progress = Callable[[int, int], None]


async def _all_ids(uow: UnitOfWork, table: str) -> list[UUID]:
    cursor = await uow.connection.execute(f"SELECT id FROM {table} ORDER BY id")
    return [row[0] for row in await cursor.fetchall()]


async def expected_changes(database: Database, tenant_id: UUID) -> GraphChanges:
    """Everything PostgreSQL says the tenant's graph holds: every category, product, order and
    review, and every storefront batch in the outbox."""
    async with database.unit_of_work(tenant_id) as uow:
        changes = GraphChanges()
        changes.categories = {
            f.id: f for f in await category_facts(uow, await _all_ids(uow, "categories"))
        }
        changes.products = {
            f.id: f for f in await product_facts(uow, await _all_ids(uow, "products"))
        }
        changes.orders = {f.id: f for f in await order_facts(uow, await _all_ids(uow, "orders"))}
        changes.reviewed_products = set(changes.products)
        changes.reviews = await review_facts(uow, changes.reviewed_products)
        cursor = await uow.connection.execute(
            "SELECT id, payload FROM outbox WHERE event_type = %s ORDER BY id", (STOREFRONT_EVENT,)
        )
        changes.batches = {row[0]: interactions(row[1]) for row in await cursor.fetchall()}
    return changes


async def graph_head(database: Database) -> Checkpoint:
    """Where a rebuild starts: the last event no running transaction can still precede."""
    return await _head(database)


async def rebuild_tenant(projector: GraphProjector, tenant_id: UUID, *, chunk: int = 500) -> None:
    """Empty the tenant's graph and project all of PostgreSQL's facts again, in chunks."""
    changes = await expected_changes(projector.database, tenant_id)
    await projector.store.clear(tenant_id)
    async with projector.store.writer(tenant_id) as writer:
        await apply_changes(writer, GraphChanges(categories=changes.categories))
    products = list(changes.products.values())
    for start in range(0, len(products), chunk):
        async with projector.store.writer(tenant_id) as writer:
            await apply_changes(writer, GraphChanges(
                products={p.id: p for p in products[start:start + chunk]}))  # fmt: skip
    orders = list(changes.orders.values())
    for start in range(0, len(orders), chunk):
        async with projector.store.writer(tenant_id) as writer:
            await apply_changes(writer, GraphChanges(
                orders={o.id: o for o in orders[start:start + chunk]}))  # fmt: skip
    async with projector.store.writer(tenant_id) as writer:
        await apply_changes(writer, GraphChanges(
            reviewed_products=changes.reviewed_products, reviews=changes.reviews,
            batches=changes.batches))  # fmt: skip


async def verify_tenant(projector: GraphProjector, tenant_id: UUID) -> list[str]:
    """Compare the tenant's graph, node by node and relationship by relationship, with the graph
    PostgreSQL's facts make when projected from scratch (in memory)."""
    reference = ReferenceGraph()
    await apply_changes(reference, await expected_changes(projector.database, tenant_id))
    actual = await projector.store.snapshot(tenant_id)
    return snapshot_differences(reference.snapshot(), actual, float_scale=trend_scale())


def trend_scale() -> float:
    return trend_contribution(1.0, datetime.now(UTC))


__all__ = [
    "STOREFRONT_EVENT",
    "GraphChanges",
    "GraphProjector",
    "GraphRelay",
    "GraphSnapshot",
    "apply_changes",
    "changes_for",
    "expected_changes",
    "graph_head",
    "rebuild_tenant",
    "verify_tenant",
]
