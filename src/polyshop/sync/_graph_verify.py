"""`polyshop sync verify graph` in bounded memory: a tenant's graph compared with PostgreSQL's
facts one label or relationship type at a time, both sides streamed in key order and merged.

The expected side is SQL over one REPEATABLE READ snapshot, each label or type one statement
ordered by its key (the ids' uuid order, which is their text order) and read through a
server-side cursor: the nodes as the projector's fact queries read them, PURCHASED,
FREQUENTLY_BOUGHT_WITH and ALSO_BOUGHT as the bulk build's `GROUP BY`s, VIEWED and
ADDED_TO_CART counted from the storefront batches' events, a product's trend and orders summed
from its counted orders and interactions, SIMILAR_TO ranked from scratch over the catalog. The
stored side comes in pages (`GraphStore.snapshot_page`) in the same order. The merge compares
what both sides have up to the smaller of their last keys, with the same rule as the in-memory
comparison (`snapshot_drift`: a product's trend sum within 1e-9 of the trend's scale, other
floats within 1e-9), keeps the rest and reads on: memory is
a page of each side whatever the shop's size (and the drift found).

A store that keeps for-sale lists on its products (`GraphStore.lists`: Neo4j) has them checked
too, as one more label per list (`list_label`): the expected relationships of the type streamed
again by source, their partners' for_sale looked up a page at a time, each product's ranked by
`for_sale_list`, against the stored lists. A list missing, empty, stale or with a product not for
sale in it is drift, which `sync rebuild graph` mends.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from polyshop.adapters.postgres import Database, PostgresSimilarCatalog
from polyshop.domain.recommendations import (
    COUNTED_STATUSES_EXCLUDED,
    TREND_EPOCH,
    TREND_HALF_LIFE_DAYS,
    TREND_WEIGHTS,
    UNPAID,
    for_sale_list,
    order_counts,
    snapshot_drift,
)
from polyshop.ports import (
    GRAPH_LABELS,
    GRAPH_RELATIONSHIPS,
    Drift,
    GraphSnapshot,
    GraphStore,
    list_label,
)
from polyshop.sync._graph_bulk import (
    _ALSO_BOUGHT,
    _BOUGHT_TOGETHER,
    _COUNTED_LINES,
    _ORDERS,
    _PURCHASED,
    _REVIEWS,
    PRODUCT_FOR_SALE,
)

Item = tuple[str, tuple[Any, ...]]

# Items per page on each side (a relationship page of the store: source nodes).
VERIFY_CHUNK = 5_000

# The storefront events a batch's payload holds, as `sync.graph.interactions` reads them: the
# interaction types with a product (and, for a customer's relationships, a customer).
_EVENTS = (
    "FROM outbox o CROSS JOIN LATERAL jsonb_array_elements(o.payload -> 'events') e"
    " WHERE o.event_type = %(storefront)s AND e ->> 'type' IN ('view', 'add_to_cart')"
    " AND coalesce(e ->> 'product_id', '') <> ''"
)
# A contribution to a trend sum, as `trend_contribution` computes it in Python.
_DECAY = "power(2.0::float8, extract(epoch FROM {at} - %(epoch)s)::float8 / 86400.0 / %(half)s)"
_PRODUCTS = (
    _COUNTED_LINES + ","
    " bought AS (SELECT product_id, sum(" + _DECAY.format(at="created_at") + ") AS trend,"
    "   count(*) AS n FROM lines GROUP BY product_id),"
    " seen AS (SELECT (e ->> 'product_id')::uuid AS product_id, sum(CASE e ->> 'type'"
    "   WHEN 'view' THEN %(view)s::float8 ELSE %(cart)s::float8 END * "
    + _DECAY.format(at="(e ->> 'occurred_at')::timestamptz")
    + ") AS trend "
    + _EVENTS
    + " GROUP BY 1),"
    " ids AS (SELECT id FROM products UNION SELECT product_id FROM seen)"
    " SELECT ids.id, coalesce(p.name, ''), coalesce("
    + PRODUCT_FOR_SALE
    + ", false), p.category_id,"
    " p.brand_id, coalesce(a.features, '{}'), coalesce(b.trend, 0) + coalesce(s.trend, 0),"
    " coalesce(b.n, 0) FROM ids LEFT JOIN products p ON p.id = ids.id"
    " LEFT JOIN (SELECT product_id, array_agg(name || '=' || value ORDER BY name, value)"
    "   AS features FROM product_attributes GROUP BY product_id) a ON a.product_id = ids.id"
    " LEFT JOIN bought b ON b.product_id = ids.id LEFT JOIN seen s ON s.product_id = ids.id"
    " ORDER BY ids.id"
)
_INTERACTIONS = (
    "SELECT (e ->> 'customer_id')::uuid, (e ->> 'product_id')::uuid, count(*),"
    " max((e ->> 'occurred_at')::timestamptz) " + _EVENTS + " AND e ->> 'type' = %(type)s"
    " AND coalesce(e ->> 'customer_id', '') <> '' GROUP BY 1, 2 ORDER BY 1, 2"
)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _pair(row: Any) -> Item:
    return f"{row[0]}>{row[1]}", tuple(row[2:])


def _timed_pair(row: Any) -> Item:  # (count or rating, the latest time)
    return f"{row[0]}>{row[1]}", (row[2], row[3].astimezone(UTC))


# Per label or relationship type: its statement (key order) and how a row becomes an item.
_EXPECTED: dict[str, tuple[str, Callable[[Any], Item]]] = {
    "Category": ("SELECT id, name, parent_id FROM categories ORDER BY id",
                 lambda r: (str(r[0]), (r[1], _text(r[2])))),
    "Product": (_PRODUCTS, lambda r: (str(r[0]), (r[1], r[2], _text(r[3]), _text(r[4]),
                                                  tuple(r[5]), float(r[6]), int(r[7])))),
    "Order": (_ORDERS + " ORDER BY o.id",
              lambda r: (str(r[0]), (str(r[1]), r[2].astimezone(UTC), order_counts(r[3], r[4]),
                                     tuple(sorted(str(p) for p in r[5] or [])), r[6]))),
    "PURCHASED": (_PURCHASED + " ORDER BY user_id, product_id", _timed_pair),
    "VIEWED": (_INTERACTIONS, _timed_pair),
    "ADDED_TO_CART": (_INTERACTIONS, _timed_pair),
    "REVIEWED": (f"SELECT * FROM ({_REVIEWS}) r ORDER BY user_id, product_id", _timed_pair),
    # The bulk build's statements come ordered by the first product only.
    "FREQUENTLY_BOUGHT_WITH": (_BOUGHT_TOGETHER + ", b.product_id", _pair),
    "ALSO_BOUGHT": (_ALSO_BOUGHT + ", b.product_id", _pair),
}  # fmt: skip


def _params(label: str) -> dict[str, Any]:
    from polyshop.sync.graph import STOREFRONT_EVENT  # one module, two halves

    return {"excluded": sorted(COUNTED_STATUSES_EXCLUDED), "unpaid": sorted(UNPAID),
            "storefront": STOREFRONT_EVENT, "epoch": TREND_EPOCH, "half": TREND_HALF_LIFE_DAYS,
            "view": TREND_WEIGHTS["view"], "cart": TREND_WEIGHTS["add_to_cart"],
            "type": "view" if label == "VIEWED" else "add_to_cart"}  # fmt: skip


async def _expected(
    connection: AsyncConnection[Any], label: str, size: int
) -> AsyncIterator[list[Item]]:
    """What PostgreSQL says the label or type holds, in key order, `size` items at a time."""
    if label == "SIMILAR_TO":
        async for edges in PostgresSimilarCatalog(connection).every_top_similar(size, ordered=True):
            yield [(f"{a}>{b}", (s.score, s.reason)) for a, b, s in edges]
        return
    sql, item = _EXPECTED[label]
    async with connection.cursor(name="graph_verify") as cursor:
        await cursor.execute(sql, _params(label))
        while rows := await cursor.fetchmany(size):
            yield [item(row) for row in rows]


async def _expected_lists(
    connection: AsyncConnection[Any], relationship: str, length: int | None, size: int
) -> AsyncIterator[list[Item]]:
    """What PostgreSQL says the products' for-sale lists of `relationship` hold, in product id
    order: its expected relationships (`_expected`, by source then partner), the partners'
    for_sale read for each page (in the same snapshot), each source's ranked when its last
    relationship is read; products with no partner for sale have no list. Memory: a page, and
    one product's relationships (at most the catalog)."""
    source: str | None = None
    partners: list[tuple[str, float]] = []
    async for page in _expected(connection, relationship, size):
        cursor = await connection.execute(
            f"SELECT id::text FROM products p WHERE id = ANY(%s::uuid[]) AND {PRODUCT_FOR_SALE}",
            (sorted({key.split(">")[1] for key, _ in page}),),
        )
        for_sale = {row[0] for row in await cursor.fetchall()}
        lists: list[Item] = []
        for key, values in page:
            a, b = key.split(">")
            if a != source:
                if source is not None and partners:
                    lists.append((source, for_sale_list(partners, length)))
                source, partners = a, []
            if b in for_sale:
                partners.append((b, values[0]))
        yield lists
    if source is not None and partners:
        yield [(source, for_sale_list(partners, length))]


async def _stored(
    store: GraphStore, tenant_id: UUID, label: str, size: int
) -> AsyncIterator[list[Item]]:
    after: str | None = None
    while True:
        items, after = await store.snapshot_page(tenant_id, label, after, size)
        yield items
        if after is None:
            return


class _Side:
    """One side of the merge: its pages in key order, and what is read but not yet compared."""

    def __init__(self, name: str, pages: AsyncIterator[list[Item]]) -> None:
        self.name = name
        self.pages = pages
        self.buffer: list[Item] = []
        self.done = False
        self.last: str | None = None

    async def fill(self) -> None:
        while not self.buffer and not self.done:
            try:
                page = await anext(self.pages)
            except StopAsyncIteration:
                self.done = True
                return
            # The merge is only right if both sides come in the same order: a side that does
            # not is a bug to stop at, not drift to report.
            keys = [key for key, _ in page]
            if keys != sorted(keys) or (keys and self.last is not None and keys[0] <= self.last):
                raise RuntimeError(f"the {self.name} side of the graph is not in key order")
            self.buffer = page
            if keys:
                self.last = keys[-1]

    def take(self, bound: str | None) -> dict[str, tuple[Any, ...]]:
        """Every buffered item up to `bound` (None: all of them)."""
        end = len(self.buffer) if bound is None else bisect.bisect_right(
            self.buffer, bound, key=lambda item: item[0]
        )  # fmt: skip
        taken, self.buffer = self.buffer[:end], self.buffer[end:]
        return dict(taken)


async def merge(
    tenant_id: UUID, label: str, expected: AsyncIterator[list[Item]],
    stored: AsyncIterator[list[Item]], drift: Drift, float_scale: float,
) -> None:  # fmt: skip
    """Add to `drift` how the stored items of one label or type differ from the expected."""
    want, got = _Side("expected", expected), _Side("stored", stored)
    while True:
        await want.fill()
        await got.fill()
        if not want.buffer and not got.buffer:  # both sides read to the end
            return
        # Everything up to the smaller last key of a side that has more is in both buffers.
        bounds = [side.buffer[-1][0] for side in (want, got) if not side.done]
        bound = min(bounds) if bounds else None
        wanted, found = want.take(bound), got.take(bound)
        missing, extra, different = snapshot_drift(
            {label: wanted}, {label: found}, float_scale=float_scale
        )
        drift.missing += [(tenant_id, label, key) for _, key in missing]
        drift.extra += [(tenant_id, label, key) for _, key in extra]
        drift.different += [(tenant_id, label, key) for _, key in different]
        drift.checked += len(wanted)


LABELS = tuple(sorted(GRAPH_LABELS + GRAPH_RELATIONSHIPS))  # the in-memory comparison's order


async def verify_graph(
    database: Database, store: GraphStore, tenant_id: UUID, float_scale: float,
    size: int = VERIFY_CHUNK, advance: Callable[[int], None] | None = None,
) -> Drift:  # fmt: skip
    """The tenant's stored graph against PostgreSQL's facts, one label or type at a time;
    `advance(1)` after each (two units: what PostgreSQL says, and the store)."""
    drift = Drift()
    async with database.unit_of_work() as uow:
        connection = uow.connection
        # One snapshot for every statement (set before anything else runs in the transaction).
        await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        await uow.set_tenant(tenant_id)
        for label in LABELS:
            await merge(
                tenant_id, label, _expected(connection, label, size),
                _stored(store, tenant_id, label, size), drift, float_scale,
            )  # fmt: skip
            if advance:
                advance(2)
        for relationship, length in sorted(store.lists.items()):
            label = list_label(relationship)
            await merge(
                tenant_id, label, _expected_lists(connection, relationship, length, size),
                _stored(store, tenant_id, label, size), drift, float_scale,
            )  # fmt: skip
            if advance:
                advance(2)
    return drift


async def stored_lists(
    store: GraphStore, tenant_id: UUID, size: int = VERIFY_CHUNK
) -> GraphSnapshot:
    """Every for-sale list the store keeps for the tenant, by `list_label`, in memory (the
    in-memory comparison, `GraphProjector.compare`)."""
    found: GraphSnapshot = {}
    for relationship in sorted(store.lists):
        label = list_label(relationship)
        found[label] = {
            key: value
            async for page in _stored(store, tenant_id, label, size)
            for key, value in page
        }
    return found
