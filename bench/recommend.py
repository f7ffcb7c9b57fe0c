"""Recommendations on Neo4j 5 and on the PostgreSQL twin, in one run.

    uv run python -m bench.recommend [--orders 100000] [--products 2000] [--customers 10000]
        [--events 20000] [--projected 5000] [--seconds 3] [--clients 4]
        [--neo4j-heap-mb 2048] [--neo4j-pagecache-mb 1536]

1. PostgreSQL gets a seeded shop (`services.seeding`: catalog, customers, `--orders` orders with
   payments, cancellations, refunds and reviews, storefront events), then both graphs are built
   from it set-based (`sync._graph_bulk.bulk_load`, what `polyshop sync rebuild graph` runs;
   tests/integration/sync/test_graph_projector.py shows it builds the projector's graph).
2. The projector against a raw loop of its own write statements: `--projected` generated orders
   (2% of them cancelled later) go through the projector's path (`sync.graph.apply_changes`,
   500 orders per transaction: the reads, the increments computed in Python, the writes) into an
   empty tenant, every write call recorded; then the recorded calls are
   replayed, same statement text, same parameters, same transactions, into a second empty tenant:
   the raw driver loop. The ratio is the projector's own overhead (its reads and its Python).
3. p50/p99 of each recommender on each adapter over the seeded graph (random subjects,
   `--clients` concurrent tasks, `--seconds` each, after a warm-up pass). Neo4j runs with its own
   heap and page cache (`--neo4j-heap-mb`, `--neo4j-pagecache-mb`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

from rich.console import Console
from rich.table import Table
from tests.support.neo4j_server import Neo4jServer

from bench._common import RESULTS, ROOT, fresh_database, percentile
from polyshop import bootstrap
from polyshop.adapters.neo4j import Neo4jGraphStore
from polyshop.adapters.postgres import Database, PostgresGraphStore
from polyshop.domain.recommendations import OrderFact, ProductFact, RecommendationKind
from polyshop.ports import GraphStore, GraphWriter
from polyshop.services.recommendations import RecommendationService
from polyshop.services.seeding import Seeder, SeedPlan
from polyshop.settings import Settings
from polyshop.sync.graph import GraphChanges, apply_changes, bulk_load

DATABASE = "polyshop_bench_graph"
CHUNK = 500
console = Console()

_WRITES = frozenset({
    "put_categories", "put_products", "replace_similar", "put_orders", "put_purchased",
    "add_pairs", "add_trend", "replace_reviews", "add_interactions",
})  # fmt: skip


class Recorder:
    """A GraphWriter that passes everything through and records the write calls."""

    def __init__(self, writer: GraphWriter) -> None:
        self._writer = writer
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    seconds: ClassVar[dict[str, float]] = defaultdict(float)  # per method, all recorders

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._writer, name)

        async def recorded(*args: Any) -> Any:
            if name in _WRITES:
                self.calls.append((name, args))
            began = time.perf_counter()
            try:
                return await method(*args)
            finally:
                Recorder.seconds[name] += time.perf_counter() - began

        return recorded


class Subjects:
    """What the seeded shop has, to ask about: products, categories, customers with orders."""

    def __init__(self, tenant: UUID, products: list[ProductFact], categories: list[UUID],
                 customers: list[UUID]) -> None:  # fmt: skip
        self.tenant = tenant
        self.products = products
        self.categories = categories
        self.customers = customers

    @classmethod
    async def read(cls, database: Database, tenant: UUID) -> Subjects:
        async with database.unit_of_work(tenant) as uow:
            c = uow.connection
            rows = await (await c.execute(
                "SELECT p.id, p.name, p.status = 'active', p.category_id, p.brand_id"
                " FROM products p ORDER BY p.id")).fetchall()  # fmt: skip
            products = [ProductFact(r[0], r[1], r[2], r[3], r[4], ()) for r in rows]
            categories = [r[0] for r in await (await c.execute(
                "SELECT id FROM categories ORDER BY id")).fetchall()]  # fmt: skip
            customers = [r[0] for r in await (await c.execute(
                "SELECT DISTINCT user_id FROM orders ORDER BY user_id")).fetchall()]  # fmt: skip
        return cls(tenant, products, categories, customers)

    async def hottest(self, database: Database) -> UUID:
        """The product in most orders (the case where a 2-hop walk would cost most)."""
        async with database.unit_of_work(self.tenant) as uow:
            cursor = await uow.connection.execute(
                "SELECT product_id FROM order_items GROUP BY product_id"
                " ORDER BY count(DISTINCT order_id) DESC, product_id LIMIT 1"
            )
            row = await cursor.fetchone()
        assert row is not None
        return UUID(str(row[0]))


async def twin_sizes(database: Database, tenant: UUID) -> dict[str, int]:
    """The graph's size, counted on the twin (both stores hold the same graph)."""
    async with database.unit_of_work(tenant) as uow:
        cursor = await uow.connection.execute(
            "SELECT (SELECT count(*) FROM graph_products), (SELECT count(*) FROM graph_orders),"
            " (SELECT count(*) FROM graph_user_products WHERE purchased > 0),"
            " (SELECT count(*) FROM graph_pairs WHERE bought_together > 0),"
            " (SELECT count(*) FROM graph_pairs WHERE also_bought > 0),"
            " (SELECT count(*) FROM graph_pairs WHERE similarity > 0)"
        )
        row = await cursor.fetchone()
    assert row is not None
    names = ("Product", "Order", "PURCHASED", "FREQUENTLY_BOUGHT_WITH", "ALSO_BOUGHT",
             "SIMILAR_TO")  # fmt: skip
    return dict(zip(names, row, strict=True))


def generated_orders(subjects: Subjects, n: int, seed: int = 7) -> list[list[OrderFact]]:
    """`n` paid orders of 1-4 products with a skewed popularity, in chunks of CHUNK; 2% of them
    come again, cancelled, in a later chunk (the take-back path)."""
    rng = random.Random(seed)
    ids = [p.id for p in subjects.products]
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(ids))]
    now = datetime.now(UTC)
    orders = []
    for _ in range(n):
        items = tuple(sorted(set(rng.choices(ids, weights, k=rng.randint(1, 4))), key=str))
        placed = now - timedelta(days=rng.random() * 60)
        orders.append(OrderFact(uuid4(), rng.choice(subjects.customers), placed, True, items,
                                "card"))  # fmt: skip
    chunks = [orders[start : start + CHUNK] for start in range(0, n, CHUNK)]
    for index, chunk in enumerate(chunks[:-1]):
        cancelled = [o for o in chunk if rng.random() < 0.02]
        later = chunks[rng.randint(index + 1, len(chunks) - 1)]
        later += [OrderFact(o.id, o.user_id, o.placed_at, False, o.products, o.payment_method)
                  for o in cancelled]  # fmt: skip
    return chunks


async def projector_and_raw(
    store: GraphStore, tenants: tuple[UUID, UUID, UUID], subjects: Subjects, projected: int
) -> dict[str, float]:
    """Orders/s of the projector's write path, and of a replay of exactly its write calls."""
    # No catalog: an order's products are merged as it is put (the write path is what counts;
    # the catalog's SIMILAR_TO upkeep is product events' business, not orders').
    # Warm-up on a third tenant: Neo4j plans each statement text once; neither side pays it.
    for chunk in generated_orders(subjects, 2 * CHUNK, seed=8):
        async with store.writer(tenants[2]) as writer:
            await apply_changes(writer, GraphChanges(orders={o.id: o for o in chunk}))
    chunks = generated_orders(subjects, projected)
    recorded: list[list[tuple[str, tuple[Any, ...]]]] = []
    started = time.perf_counter()
    for chunk in chunks:
        async with store.writer(tenants[0]) as writer:
            recorder = Recorder(writer)
            await apply_changes(recorder, GraphChanges(orders={o.id: o for o in chunk}))  # type: ignore[arg-type]
        recorded.append(recorder.calls)
    projector_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for calls in recorded:
        async with store.writer(tenants[1]) as writer:
            for name, args in calls:
                await getattr(writer, name)(*args)
    raw_seconds = time.perf_counter() - started
    facts = sum(len(c) for c in chunks)
    statements = sum(len(c) for c in recorded)
    console.print(
        f"projector's calls, s: { {k: round(v, 2) for k, v in Recorder.seconds.items()} }"
    )
    Recorder.seconds.clear()
    return {"order_facts": facts, "write_calls": statements,
            "projector_orders_per_s": facts / projector_seconds,
            "raw_loop_orders_per_s": facts / raw_seconds,
            "ratio": raw_seconds / projector_seconds}  # fmt: skip


async def measure(
    clients: int, seconds: float, read: Callable[[random.Random], Awaitable[Any]]
) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            begun = time.perf_counter()
            await read(rng)
            latencies.append((time.perf_counter() - begun) * 1000)

    await asyncio.gather(*(client(n) for n in range(clients)))
    return {"count": len(latencies), "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99)}  # fmt: skip


async def recommenders(
    store: GraphStore, subjects: Subjects, options: argparse.Namespace, hottest: UUID
) -> dict[str, dict[str, float]]:
    service = RecommendationService(store)  # no cache: the store is what is measured
    tenant = subjects.tenant
    products = [p.id for p in subjects.products]
    kinds: dict[str, Callable[[random.Random], Awaitable[Any]]] = {
        kind.value: (lambda k: lambda r: service.for_product(tenant, r.choice(products), k))(kind)
        for kind in (RecommendationKind.BOUGHT_TOGETHER, RecommendationKind.ALSO_BOUGHT,
                     RecommendationKind.SIMILAR)
    }  # fmt: skip
    kinds["trending"] = lambda r: service.trending(tenant, r.choice(subjects.categories))
    kinds["for_you"] = lambda r: service.for_customer(tenant, r.choice(subjects.customers))
    # The hottest product: the case where walking two hops would cost most.
    kinds["bought_together (hottest)"] = lambda r: service.for_product(
        tenant, hottest, RecommendationKind.BOUGHT_TOGETHER
    )
    kinds["also_bought (hottest)"] = lambda r: service.for_product(
        tenant, hottest, RecommendationKind.ALSO_BOUGHT
    )
    # Warm-up: every recommender once per subject class, unmeasured (page cache, query plans).
    for read in kinds.values():
        await measure(options.clients, min(1.0, options.seconds), read)
    return {
        name: await measure(options.clients, options.seconds, read) for name, read in kinds.items()
    }


async def _seeded_shop(urls: bootstrap.StoreUrls) -> UUID:
    database = Database(urls.postgres_relay or urls.postgres, min_size=1, max_size=1)
    await database.open()
    try:
        async with database.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT id FROM tenants ORDER BY created_at, id LIMIT 1"
            )
            row = await cursor.fetchone()
    finally:
        await database.close()
    assert row is not None, "nothing seeded yet: run once without --reuse-seed"
    return UUID(str(row[0]))


async def run(options: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(data_dir=options.data_dir, database=DATABASE)  # type: ignore[call-arg]
    results: dict[str, Any] = {"orders": options.orders, "products": options.products,
                               "customers": options.customers, "events": options.events}  # fmt: skip
    if options.reuse_seed:  # the previous run's seeded shop (same options assumed)
        urls = bootstrap.store_urls(settings)
        shop = await _seeded_shop(urls)
    else:
        urls = fresh_database(settings)
        assert urls.postgres_admin is not None
        began = time.perf_counter()
        plan = SeedPlan(shops=1, users=options.customers, products=options.products,
                        orders=options.orders, events=options.events)  # fmt: skip
        report = await Seeder(urls.postgres_admin).run(plan)
        results["seed_seconds"] = time.perf_counter() - began
        shop = report.tenants[0][0]
        console.print(f"seeded {options.orders:,} orders in {results['seed_seconds']:.0f} s")
    server = Neo4jServer(heap_mb=options.neo4j_heap_mb, pagecache_mb=options.neo4j_pagecache_mb)
    server.start()
    # The graph is written by the relay's role (the application's only reads it).
    database = Database(
        urls.postgres_relay or urls.postgres, min_size=2, max_size=options.clients + 4
    )
    await database.open()
    neo4j = Neo4jGraphStore(server.url, server.user, server.password)
    try:
        async with bootstrap.application(settings, urls) as app:
            spare = [(await app.tenants.create(f"bench-{uuid4().hex[:12]}", "Bench")).id
                     for _ in range(6)]  # fmt: skip
        subjects = await Subjects.read(database, shop)
        stores: dict[str, GraphStore] = {"neo4j": neo4j, "postgres": PostgresGraphStore(database)}
        for index, (name, store) in enumerate(stores.items()):
            await store.setup()
            three = (spare[3 * index], spare[3 * index + 1], spare[3 * index + 2])
            if options.ratio_only:
                results[name] = await projector_and_raw(store, three, subjects, options.projected)
                console.print(f"{name}: projector {results[name]}")
                continue
            began = time.perf_counter()
            rows = await bulk_load(database, store, shop)
            load_seconds = time.perf_counter() - began
            console.print(f"{name}: bulk load {rows:,} rows in {load_seconds:.0f} s")
            ratio = await projector_and_raw(store, three, subjects, options.projected)
            console.print(f"{name}: projector {ratio}")
            results[name] = {
                "bulk_load_seconds": load_seconds,
                "bulk_rows": rows,
                **ratio,
                "recommenders": await recommenders(
                    store, subjects, options, await subjects.hottest(database)
                ),
            }
        if not options.ratio_only:
            results["graph"] = await twin_sizes(database, shop)
    finally:
        await neo4j.close()
        await database.close()
        server.remove()
    return results


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("polyshop.sync._graph_bulk").setLevel(logging.INFO)  # its steps' seconds
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--projected", type=int, default=5_000)
    parser.add_argument("--neo4j-heap-mb", type=int, default=2048)
    parser.add_argument("--neo4j-pagecache-mb", type=int, default=1536)
    parser.add_argument(
        "--reuse-seed",
        action="store_true",
        help="keep the previous run's seeded PostgreSQL (skips ~3 min here)",
    )
    parser.add_argument(
        "--ratio-only",
        action="store_true",
        help="only the projector against its raw loop (with --reuse-seed)",
    )
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    options = parser.parse_args()
    results = asyncio.run(run(options))
    if options.ratio_only:
        return
    table = Table(title=f"recommenders at {options.orders:,} orders, {options.clients} tasks")
    for column in ("recommender", "neo4j p50 ms", "neo4j p99 ms", "pg p50 ms", "pg p99 ms"):
        table.add_column(column, justify="right")
    for name in results["neo4j"]["recommenders"]:
        n, p = results["neo4j"]["recommenders"][name], results["postgres"]["recommenders"][name]
        table.add_row(name, f"{n['p50_ms']:.1f}", f"{n['p99_ms']:.1f}", f"{p['p50_ms']:.1f}",
                      f"{p['p99_ms']:.1f}")  # fmt: skip
    console.print(table)
    for name in ("neo4j", "postgres"):
        r = results[name]
        console.print(
            f"{name}: bulk load {r['bulk_load_seconds']:.0f} s ({r['bulk_rows']:,} rows); "
            f"projector {r['projector_orders_per_s']:,.0f} orders/s, raw loop of its "
            f"{r['write_calls']:,} write calls {r['raw_loop_orders_per_s']:,.0f} orders/s, "
            f"ratio {r['ratio']:.2f}"
        )
    console.print(f"graph: {results['graph']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "recommend.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
