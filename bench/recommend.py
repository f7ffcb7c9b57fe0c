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
import gc
import json
import logging
import os
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

import psycopg
from neo4j import AsyncGraphDatabase
from rich.console import Console
from rich.table import Table
from tests.support.neo4j_server import Neo4jServer

from bench._common import RESULTS, ROOT, fresh_database, percentile
from polyshop import bootstrap
from polyshop.adapters.neo4j import Neo4jGraphStore
from polyshop.adapters.postgres import Database, PostgresGraphStore, upgrade
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
    """A GraphWriter that passes everything through, times each call and, while a write call
    runs, records the driver statements it sends (text and parameters, `Statements`)."""

    seconds: ClassVar[dict[str, float]] = defaultdict(float)  # per method, all recorders

    def __init__(self, writer: GraphWriter, statements: Statements) -> None:
        self._writer = writer
        self._statements = statements

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._writer, name)

        async def recorded(*args: Any) -> Any:
            self._statements.recording = name in _WRITES
            began = time.perf_counter()
            try:
                return await method(*args)
            finally:
                self._statements.recording = False
                Recorder.seconds[name] += time.perf_counter() - began

        return recorded


class Statements:
    """The driver calls of one transaction: the adapter's connection (psycopg) or transaction
    (neo4j) is wrapped, so what is recorded is exactly what went to the server."""

    def __init__(self) -> None:
        self.recording = False
        self.calls: list[tuple[str, str, Any]] = []  # (execute | executemany | run, text, params)

    def wrap(self, writer: Any) -> None:
        # The bench reaches into the adapters' writers on purpose: the raw loop must replay the
        # statements as sent, not the adapters' Python that builds them.
        if hasattr(writer, "_tx"):  # Neo4jGraphWriter
            writer._tx = _RecordingTransaction(writer._tx, self)
        else:  # PostgresGraphWriter
            writer._conn = _RecordingConnection(writer._conn, self)


class _RecordingConnection:
    def __init__(self, connection: Any, statements: Statements) -> None:
        self._connection = connection
        self._statements = statements

    async def execute(self, sql: str, params: Any = None) -> Any:
        if self._statements.recording:
            self._statements.calls.append(("execute", sql, params))
        return await self._connection.execute(sql, params)

    def cursor(self) -> Any:
        return _RecordingCursor(self._connection.cursor(), self._statements)


class _RecordingCursor:
    def __init__(self, cursor: Any, statements: Statements) -> None:
        self._cursor = cursor
        self._statements = statements

    async def __aenter__(self) -> _RecordingCursor:
        self._cursor = await self._cursor.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.__aexit__(*exc)

    async def executemany(self, sql: str, rows: Any) -> None:
        if self._statements.recording:
            self._statements.calls.append(("executemany", sql, rows))
        await self._cursor.executemany(sql, rows)


class _RecordingTransaction:
    def __init__(self, tx: Any, statements: Statements) -> None:
        self._tx = tx
        self._statements = statements

    async def run(self, query: str, **params: Any) -> Any:
        if self._statements.recording:
            self._statements.calls.append(("run", query, params))
        return await self._tx.run(query, **params)


def _retenant(value: Any, old: Any, new: Any) -> Any:
    """The same parameters for another tenant (the tenant appears only as a whole parameter)."""
    if isinstance(value, dict):
        return {k: new if v == old else v for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(new if v == old else v for v in value)
    return value


async def raw_neo4j(driver: Any, recorded: list[Statements], old: UUID, new: UUID) -> None:
    """The bare driver loop: session.run of each recorded statement, one transaction per batch."""
    for batch in recorded:
        async with driver.session(database="neo4j") as session:
            tx = await session.begin_transaction()
            for _, query, params in batch.calls:
                await (await tx.run(query, **_retenant(params, str(old), str(new)))).consume()
            await tx.commit()


async def raw_postgres(
    connection: psycopg.AsyncConnection[Any], recorded: list[Statements], old: UUID, new: UUID
) -> None:
    """The bare driver loop: psycopg execute / executemany of each recorded statement, one
    transaction per batch, the tenant set as the unit of work sets it."""
    for batch in recorded:
        async with connection.transaction():
            await connection.execute("SELECT set_config('app.tenant_id', %s, true)", (str(new),))
            for how, sql, params in batch.calls:
                if how == "executemany":
                    async with connection.cursor() as cursor:
                        await cursor.executemany(sql, [_retenant(row, old, new) for row in params])
                else:
                    await connection.execute(sql, _retenant(params, old, new))


Raw = Callable[[list["Statements"], UUID, UUID], Awaitable[None]]


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


async def holds_products(store: GraphStore, tenant: UUID, expected: int) -> bool:
    """Whether the store's graph of the tenant has its `expected` products (a kept graph)."""
    page, _ = await store.snapshot_page(tenant, "Product", None, expected + 1)
    return len(page) == expected


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
    store: GraphStore, tenants: tuple[UUID, UUID, UUID], subjects: Subjects, projected: int,
    raw: Raw,
) -> dict[str, float]:  # fmt: skip
    """Orders/s of the projector's path, and of a bare driver loop of its write statements."""
    # No catalog: an order's products are merged as it is put (the write path is what counts;
    # the catalog's SIMILAR_TO upkeep is product events' business, not orders').
    # Warm-up on a third tenant: Neo4j plans each statement text once; neither side pays it.
    for chunk in generated_orders(subjects, 2 * CHUNK, seed=8):
        async with store.writer(tenants[2]) as writer:
            await apply_changes(writer, GraphChanges(orders={o.id: o for o in chunk}))
    chunks = generated_orders(subjects, projected)
    # Both sides start from a clean collector, the bench's own heap (seeding, the subjects, the
    # generated orders) frozen as `polyshop sync run` freezes what its startup built: a full
    # collection would otherwise walk the bench's objects, ~0.1-0.5 s a run that whichever side
    # allocates most would pay (the projector, every run). The collections the projector's own
    # allocations cause stay in its time.
    gc.collect()
    gc.freeze()
    # Interleaved, batch by batch: the projector's transaction, then the bare driver loop of the
    # statements it just sent (into its own tenant): both see the machine in the same state
    # (load, JIT, caches), which on 2 shared cores moves more than the difference measured.
    projector_seconds = raw_seconds = 0.0
    loads = []
    statements_sent = 0
    for chunk in chunks:
        statements = Statements()
        started = time.perf_counter()
        async with store.writer(tenants[0]) as writer:
            statements.wrap(writer)
            await apply_changes(Recorder(writer, statements),  # type: ignore[arg-type]
                                GraphChanges(orders={o.id: o for o in chunk}))  # fmt: skip
        projector_seconds += time.perf_counter() - started
        started = time.perf_counter()
        await raw([statements], tenants[0], tenants[1])
        raw_seconds += time.perf_counter() - started
        statements_sent += len(statements.calls)
        loads.append(os.getloadavg()[0])
    gc.unfreeze()
    facts = sum(len(c) for c in chunks)
    # Neo4j's writer pipelines its writes (`Neo4jGraphWriter._send`): a write call returns once
    # sent, and the server's time shows in the next call that waits for it, or the commit.
    console.print(
        f"projector's calls, s: { {k: round(v, 2) for k, v in Recorder.seconds.items()} }"
        f" (total {projector_seconds:.2f}); raw loop {raw_seconds:.2f} s"
    )
    Recorder.seconds.clear()
    return {"order_facts": facts, "write_statements": statements_sent,
            "projector_orders_per_s": facts / projector_seconds,
            "raw_loop_orders_per_s": facts / raw_seconds,
            "ratio": raw_seconds / projector_seconds,
            "load_average": round(sum(loads) / len(loads), 1)}  # fmt: skip


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
            "p99_ms": percentile(latencies, 0.99), "load_average": os.getloadavg()[0]}  # fmt: skip


class TimedNeo4j(Neo4jGraphStore):
    """The Neo4j adapter, with the server's own time of each read (the result summary's
    `result_available_after + result_consumed_after`: planning lookup, execution, streaming)."""

    server_ms: ClassVar[list[float]] = []
    last: tuple[str, dict[str, Any]] = ("", {})

    async def _read(self, query: Any, **params: Any) -> list[Any]:
        self.last = (query, params)
        async with self._driver.session(database=self._database) as session:
            result = await session.run(query, **params)
            records = [record async for record in result]
            summary = await result.consume()
        TimedNeo4j.server_ms.append(
            float((summary.result_available_after or 0) + (summary.result_consumed_after or 0))
        )
        return records

    async def plan(self) -> str:
        """PROFILE of the last read: operators, rows and database hits."""
        query, params = self.last
        async with self._driver.session(database=self._database) as session:
            result = await session.run("PROFILE " + query, **params)  # type: ignore[arg-type]
            summary = await result.consume()
        assert summary.profile is not None

        def lines(op: dict[str, Any], depth: int = 0) -> list[str]:
            args = op.get("args", {})
            head = (f"{'  ' * depth}{op['operatorType']} rows={op.get('rows')}"
                    f" dbHits={op.get('dbHits')} {args.get('Details', '')}")  # fmt: skip
            return [head[:160]] + [x for c in op.get("children", []) for x in lines(c, depth + 1)]

        return "\n".join(lines(summary.profile))


class TimedPostgres(PostgresGraphStore):
    """The twin's adapter, with the server's own time of each read: EXPLAIN ANALYZE's planning
    plus execution time of the same statement, same parameters, same role and tenant (then the
    statement itself, for the caller)."""

    server_ms: ClassVar[list[float]] = []
    last: tuple[UUID | None, str, Any, Mapping[str, str] | None] = (None, "", (), None)

    async def _rows(
        self, tenant_id: UUID, sql: str, params: Any, planner: Mapping[str, str] | None = None
    ) -> list[Any]:
        self.last = (tenant_id, sql, params, planner)
        async with self._database.unit_of_work(tenant_id) as uow:
            await _plan_settings(uow.connection, planner)
            cursor = await uow.connection.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            plan = (await cursor.fetchone())[0][0]  # type: ignore[index]
            TimedPostgres.server_ms.append(plan["Planning Time"] + plan["Execution Time"])
            cursor = await uow.connection.execute(sql, params)
            return await cursor.fetchall()

    async def plan(self) -> str:
        """EXPLAIN ANALYZE of the last read (with its planner settings)."""
        tenant_id, sql, params, planner = self.last
        async with self._database.unit_of_work(tenant_id) as uow:
            await _plan_settings(uow.connection, planner)
            cursor = await uow.connection.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
            return "\n".join(row[0] for row in await cursor.fetchall())


async def _plan_settings(connection: Any, planner: Mapping[str, str] | None) -> None:
    """The adapter's SET LOCAL planner settings of a read, applied before it is explained."""
    for name, value in (planner or {}).items():
        await connection.execute("SELECT set_config(%s, %s, true)", (name, value))


def readers(
    service: RecommendationService, subjects: Subjects, hottest: UUID
) -> dict[str, Callable[[random.Random], Awaitable[Any]]]:
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
    return kinds


async def recommenders(
    store: GraphStore, timed: TimedNeo4j | TimedPostgres, subjects: Subjects,
    options: argparse.Namespace, hottest: UUID, warm_up: float,
) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Each recommender three ways, to split its latency: the server's own time (one client,
    `timed`), one client alone (server + driver + Python, no queueing), and `--clients`
    concurrent clients (what the 2 cores do with several requests at once)."""
    plain = readers(RecommendationService(store), subjects, hottest)  # no cache: the store
    instrumented = readers(RecommendationService(timed), subjects, hottest)
    # Warm-up: every recommender once per subject class, unmeasured (page cache, query plans).
    for read in plain.values():
        await measure(options.clients, min(warm_up, options.seconds), read)
    # The bench's own heap (the seeded subjects, the bulk build's and the projector's leftovers)
    # out of the cyclic collector's reach: otherwise each full collection walks it, and the
    # read that triggers one (most often for_you, which allocates most) waits ~100 ms for the
    # bench's objects, not its own. An application server would freeze after its startup too.
    gc.collect()
    gc.freeze()
    found: dict[str, dict[str, Any]] = {}
    for name, read in plain.items():
        server_ms = type(timed).server_ms
        server_ms.clear()
        await measure(1, options.seconds / 2, instrumented[name])
        found[name] = {
            "server_p50_ms": percentile(server_ms, 0.5),
            "server_p99_ms": percentile(server_ms, 0.99),
            "alone": await measure(1, options.seconds / 2, read),
            **await measure(options.clients, options.seconds, read),
        }
    return found


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
        assert urls.postgres_admin is not None
        upgrade(urls.postgres_admin)  # migrations added since it was seeded
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
    wanted = options.stores.split(",")
    async with AsyncExitStack() as stack:
        # The graph is written by the relay's role (the application's only reads it).
        relay_url = urls.postgres_relay or urls.postgres
        database = Database(relay_url, min_size=2, max_size=options.clients + 4)
        await database.open()
        stack.push_async_callback(database.close)
        stores: dict[str, tuple[GraphStore, TimedNeo4j | TimedPostgres, Raw]] = {}
        if "neo4j" in wanted:
            # The graph is kept in the data directory for the next --reuse-graph run (a bulk
            # build on Neo4j takes 3-7 min here); without --reuse-graph it is built afresh.
            kept = options.data_dir / "neo4j"
            if not options.reuse_graph:
                shutil.rmtree(kept, ignore_errors=True)
            # The heap fixed at its size (Neo4j's operations manual: growing it takes a full
            # collection, a pause of every query; a kept store's server starts small).
            server = Neo4jServer(heap_mb=options.neo4j_heap_mb,
                                 pagecache_mb=options.neo4j_pagecache_mb, directory=kept,
                                 fixed_heap=True)  # fmt: skip
            server.start()
            stack.callback(server.stop)
            neo4j = Neo4jGraphStore(server.url, server.user, server.password)
            stack.push_async_callback(neo4j.close)
            timed_neo4j = TimedNeo4j(server.url, server.user, server.password)
            stack.push_async_callback(timed_neo4j.close)
            # The raw loop's own driver: the bare driver, nothing of the adapter.
            driver = AsyncGraphDatabase.driver(server.url, auth=(server.user, server.password))
            stack.push_async_callback(driver.close)
            stores["neo4j"] = (neo4j, timed_neo4j,
                               lambda recorded, old, new: raw_neo4j(driver, recorded, old, new))  # fmt: skip
        if "postgres" in wanted:
            bare = await psycopg.AsyncConnection.connect(relay_url)
            stack.push_async_callback(bare.close)
            stores["postgres"] = (
                PostgresGraphStore(database), TimedPostgres(database),
                lambda recorded, old, new: raw_postgres(bare, recorded, old, new),
            )  # fmt: skip
        async with bootstrap.application(settings, urls) as app:
            spare = [(await app.tenants.create(f"bench-{uuid4().hex[:12]}", "Bench")).id
                     for _ in range(3)]  # fmt: skip
        subjects = await Subjects.read(database, shop)
        for name, (store, timed, raw) in stores.items():
            await store.setup()
            three = (spare[0], spare[1], spare[2])
            if options.ratio_only:
                results[name] = await projector_and_raw(
                    store, three, subjects, options.projected, raw
                )
                console.print(f"{name}: projector {results[name]}")
                continue
            began = time.perf_counter()
            # Neo4j's kept store counts only once its bulk build completed, for this shop, and
            # either store's graph only if it holds the shop's products (a copied Neo4j store
            # once came back without them, and every read answered empty, fast).
            built = options.data_dir / "neo4j-graph-built"
            if (
                options.reuse_graph
                and (name == "postgres" or (built.exists() and built.read_text() == str(shop)))
                and await holds_products(store, shop, len(subjects.products))
            ):
                rows = 0  # the graph of the previous run, in the reused database or store
            else:
                if name == "neo4j":
                    built.unlink(missing_ok=True)
                rows = await bulk_load(database, store, shop)
                if name == "neo4j":
                    built.write_text(str(shop))
            load_seconds = time.perf_counter() - began
            console.print(f"{name}: bulk load {rows:,} rows in {load_seconds:.0f} s")
            ratio: dict[str, float] = {}
            if not options.latency_only:
                ratio = await projector_and_raw(store, three, subjects, options.projected, raw)
                console.print(f"{name}: projector {ratio}")
            hottest = await subjects.hottest(database)
            results[name] = {
                "bulk_load_seconds": load_seconds,
                "bulk_rows": rows,
                **ratio,
                # A kept graph's server was just started: its JIT has not yet compiled what
                # the reads run (a bulk build warms it), so it gets a longer warm-up.
                "recommenders": await recommenders(
                    store, timed, subjects, options, hottest, 1.0 if rows or ratio else 5.0
                ),
            }
            for kind in (RecommendationKind.BOUGHT_TOGETHER, RecommendationKind.ALSO_BOUGHT):
                await RecommendationService(timed).for_product(shop, hottest, kind)
                console.print(f"{name}: {kind.value} of the hottest product\n{await timed.plan()}")
            await RecommendationService(timed).for_customer(shop, subjects.customers[0])
            console.print(f"{name}: for_you\n{await timed.plan()}")
        if not options.ratio_only:
            results["graph"] = await twin_sizes(database, shop)
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
    parser.add_argument(
        "--stores", default="neo4j,postgres", help="which adapters (comma-separated)"
    )
    parser.add_argument(
        "--reuse-graph",
        action="store_true",
        help="keep both graphs of the previous run (with --reuse-seed; each is built if the"
        " previous run did not complete it)",
    )
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="skip the projector against its raw loop (step 2): only the recommenders",
    )
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    options = parser.parse_args()
    results = asyncio.run(run(options))
    if options.ratio_only:
        return
    stores = [name for name in ("neo4j", "postgres") if name in results]
    for name in stores:
        table = Table(title=f"{name}: recommenders at {options.orders:,} orders, ms: the server's"
                      f" own time (1 client), 1 client alone, {options.clients} concurrent"
                      " clients (n reads), load average")  # fmt: skip
        for column in ("recommender", "server p50", "server p99", "alone p50", "alone p99",
                       "p50", "p99", "n", "load"):  # fmt: skip
            table.add_column(column, justify="right")
        for kind, r in results[name]["recommenders"].items():
            table.add_row(kind, f"{r['server_p50_ms']:.1f}", f"{r['server_p99_ms']:.1f}",
                          f"{r['alone']['p50_ms']:.1f}", f"{r['alone']['p99_ms']:.1f}",
                          f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", f"{r['count']}",
                          f"{r['load_average']:.1f}")  # fmt: skip
        console.print(table)
    for name in stores if not options.latency_only else []:
        r = results[name]
        console.print(
            f"{name}: bulk load {r['bulk_load_seconds']:.0f} s ({r['bulk_rows']:,} rows); "
            f"projector {r['projector_orders_per_s']:,.0f} orders/s, bare driver loop of its "
            f"{r['write_statements']:,} write statements {r['raw_loop_orders_per_s']:,.0f}"
            f" orders/s, ratio {r['ratio']:.2f} (load average {r['load_average']})"
        )
    console.print(f"graph: {results['graph']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "recommend.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
