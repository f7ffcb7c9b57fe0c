"""A tenant's whole graph built set-based from PostgreSQL's facts (`polyshop sync rebuild graph`,
`bench.recommend`): what the projector would make of every event, without replaying them.

The aggregates are SQL over one snapshot (REPEATABLE READ): PURCHASED per customer and
product, FREQUENTLY_BOUGHT_WITH per pair of products in the same counted order, ALSO_BOUGHT per
pair bought by the same customer. Orders, reviews, the catalog and the storefront batches stream
through server-side cursors. Everything is written through the same `GraphWriter` statements as
the projector's (UNWIND batches on Neo4j, unnest batches on the twin), `CHUNK` rows per
transaction, into an emptied graph, so the result is the projector's graph (tested node by node
and relationship by relationship in tests/integration/sync/test_graph_projector.py).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC
from typing import Any
from uuid import UUID

from polyshop.adapters.postgres import Database, PostgresSimilarCatalog
from polyshop.domain.catalog import ProductStatus
from polyshop.domain.recommendations import (
    COUNTED_STATUSES_EXCLUDED,
    TREND_WEIGHTS,
    UNPAID,
    CategoryFact,
    OrderFact,
    PairDeltas,
    ProductFact,
    RecommendationKind,
    ReviewFact,
    order_counts,
    trend_contribution,
)
from polyshop.ports import GraphStore, GraphWriter

log = logging.getLogger(__name__)

CHUNK = 10_000  # rows per statement and transaction: bounded memory, bounded Neo4j heap

# Counted orders and their distinct products (an order counts once paid, until cancelled or
# refunded: `order_counts`, the same two sets of statuses).
_COUNTED_LINES = (
    "WITH lines AS (SELECT DISTINCT o.id AS order_id, o.user_id, o.created_at, i.product_id"
    " FROM orders o JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id"
    " WHERE o.status <> ALL(%(excluded)s) AND o.payment_status <> ALL(%(unpaid)s))"
)
_PURCHASED = (
    _COUNTED_LINES + " SELECT user_id, product_id, count(*), max(created_at) FROM lines"
    " GROUP BY user_id, product_id"
)
# Pairs come grouped by their first product: Neo4j ranks a product's partners (its for-sale
# lists) after each chunk that wrote some, so a product must not be spread over many chunks.
_BOUGHT_TOGETHER = (
    _COUNTED_LINES + " SELECT a.product_id, b.product_id, count(*) FROM lines a"
    " JOIN lines b ON b.order_id = a.order_id AND b.product_id <> a.product_id"
    " GROUP BY a.product_id, b.product_id ORDER BY a.product_id"
)
_ALSO_BOUGHT = (
    _COUNTED_LINES + ", bought AS (SELECT DISTINCT user_id, product_id FROM lines)"
    " SELECT a.product_id, b.product_id, count(*) FROM bought a"
    " JOIN bought b ON b.user_id = a.user_id AND b.product_id <> a.product_id"
    " GROUP BY a.product_id, b.product_id ORDER BY a.product_id"
)
_ORDERS = (
    "SELECT o.id, o.user_id, o.created_at, o.status, o.payment_status, i.products,"
    " coalesce(y.method, 'none') FROM orders o"
    " LEFT JOIN (SELECT order_id, array_agg(DISTINCT product_id) AS products FROM order_items"
    "   GROUP BY order_id) i ON i.order_id = o.id"
    " LEFT JOIN (SELECT DISTINCT ON (order_id) order_id, payment_method AS method FROM payments"
    "   ORDER BY order_id, created_at, id) y ON y.order_id = o.id"
)
# A product for sale, as the graph has it (its `for_sale`), in the statements that read
# products (`p`): the bulk build, the projector's facts and `sync verify graph`.
PRODUCT_FOR_SALE = f"p.status = '{ProductStatus.ACTIVE}'"
_PRODUCTS = (
    "SELECT p.id, p.name, " + PRODUCT_FOR_SALE + ", p.category_id, p.brand_id,"
    " coalesce(a.features, '{}') FROM products p"
    " LEFT JOIN (SELECT product_id, array_agg(name || '=' || value ORDER BY name, value)"
    "   AS features FROM product_attributes GROUP BY product_id) a ON a.product_id = p.id"
)
_REVIEWS = (
    "SELECT DISTINCT ON (product_id, user_id) user_id, product_id, rating, created_at"
    " FROM reviews ORDER BY product_id, user_id, created_at DESC, id"
)

Write = Callable[[GraphWriter, list[Any]], Awaitable[None]]


class _Loader:
    def __init__(self, database: Database, store: GraphStore, tenant_id: UUID) -> None:
        self.database = database
        self.store = store
        self.tenant_id = tenant_id
        self.written = 0
        self.seconds: dict[str, float] = defaultdict(float)  # per step, logged at the end
        self.trend: dict[UUID, list[float]] = defaultdict(lambda: [0.0, 0])

    async def rows(self, connection: Any, sql: str, params: Any = None) -> AsyncIterator[list[Any]]:
        async with connection.cursor(name="graph_bulk") as cursor:
            await cursor.execute(sql, params)
            while rows := await cursor.fetchmany(CHUNK):
                yield rows

    async def write(self, step: str, rows: Sequence[Any], write: Write) -> None:
        began = time.perf_counter()
        for start in range(0, len(rows), CHUNK):
            async with self.store.writer(self.tenant_id, fresh=True) as writer:
                await write(writer, list(rows[start : start + CHUNK]))
            self.written += min(CHUNK, len(rows) - start)
        self.seconds[step] += time.perf_counter() - began

    async def stream(
        self, step: str, connection: Any, sql: str, write: Write, params: Any = None
    ) -> None:
        began = time.perf_counter()
        async for rows in self.rows(connection, sql, params):
            self.seconds[step + " (read)"] += time.perf_counter() - began
            await self.write(step, rows, write)
            began = time.perf_counter()


async def bulk_load(database: Database, store: GraphStore, tenant_id: UUID) -> int:
    """Empty the tenant's graph and build it from PostgreSQL's facts; rows written."""
    from polyshop.sync.graph import STOREFRONT_EVENT, interactions  # one module, two halves

    await store.clear(tenant_id)
    load = _Loader(database, store, tenant_id)
    counted = {"excluded": sorted(COUNTED_STATUSES_EXCLUDED), "unpaid": sorted(UNPAID)}
    async with database.unit_of_work() as uow:
        connection = uow.connection
        # One snapshot for every query (set before anything else runs in the transaction).
        await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        await uow.set_tenant(tenant_id)

        cursor = await connection.execute("SELECT id, name, parent_id FROM categories")
        categories = [CategoryFact(*row) for row in await cursor.fetchall()]
        await load.write("categories", categories, lambda w, rows: w.put_categories(rows))
        cursor = await connection.execute(_PRODUCTS)
        products = [ProductFact(r[0], r[1], r[2], r[3], r[4], tuple(r[5]))
                    for r in await cursor.fetchall()]  # fmt: skip
        await load.write("products", products, lambda w, rows: w.put_products(rows))
        del products  # SIMILAR_TO is ranked in SQL, a page of source products at a time
        began = time.perf_counter()
        async for edges in PostgresSimilarCatalog(connection).every_top_similar(CHUNK):
            load.seconds["similar (sql)"] += time.perf_counter() - began
            await load.write("similar", edges, lambda w, rows: w.replace_similar((), rows))
            began = time.perf_counter()

        async def orders(writer: GraphWriter, rows: list[Any]) -> None:
            facts = []
            for r in rows:
                fact = OrderFact(r[0], r[1], r[2].astimezone(UTC), order_counts(r[3], r[4]),
                                 tuple(sorted(r[5] or [], key=str)), r[6])  # fmt: skip
                facts.append(fact)
                if fact.counted:  # trending: as `order_delta` adds an order
                    contribution = trend_contribution(TREND_WEIGHTS["order"], fact.placed_at)
                    for product in fact.products:
                        load.trend[product][0] += contribution
                        load.trend[product][1] += 1
            await writer.put_orders(facts)

        await load.stream("orders", connection, _ORDERS, orders)
        await load.stream("purchased", connection, _PURCHASED, lambda w, rows: w.put_purchased(
            {(r[0], r[1]): (r[2], r[3].astimezone(UTC)) for r in rows}), counted)  # fmt: skip
        for sql, kind in ((_BOUGHT_TOGETHER, RecommendationKind.BOUGHT_TOGETHER),
                          (_ALSO_BOUGHT, RecommendationKind.ALSO_BOUGHT)):  # fmt: skip
            await load.stream(str(kind), connection, sql, (lambda k: lambda w, rows: w.add_pairs(
                k, PairDeltas.of({(r[0], r[1]): r[2] for r in rows})))(kind), counted)  # fmt: skip
        await load.stream("reviews", connection, _REVIEWS, lambda w, rows: w.replace_reviews((), [
            ReviewFact(r[0], r[1], r[2], r[3].astimezone(UTC)) for r in rows]))  # fmt: skip

        async def batches(writer: GraphWriter, rows: list[Any]) -> None:
            found = {row[0]: interactions(row[1]) for row in rows}
            seen = [i for batch in sorted(found) for i in found[batch]]
            for i in seen:
                weight = TREND_WEIGHTS["view" if i.kind == "viewed" else "add_to_cart"]
                load.trend[i.product_id][0] += trend_contribution(weight, i.at)
            await writer.add_interactions(found.keys(), seen)

        await load.stream("storefront", connection, "SELECT id, payload FROM outbox WHERE event_type = %s"
                          " ORDER BY id", batches, (STOREFRONT_EVENT,))  # fmt: skip
    trend = sorted((p, (t, int(n))) for p, (t, n) in load.trend.items())
    await load.write("trend", trend, lambda w, rows: w.add_trend(dict(rows)))
    log.info("graph of tenant %s built: %d rows; seconds per step %s", tenant_id, load.written,
             {k: round(v, 2) for k, v in load.seconds.items()})  # fmt: skip
    return load.written
