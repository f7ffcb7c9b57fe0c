"""Analytics on Cassandra against its baseline, and against its PostgreSQL twin, in one run.

    uv run python -m bench.analytics [--ingest 20000] [--events 200000] [--concurrency 32]
                                     [--queries 100] [--cassandra-hosts HOST:PORT]

1. Ingest on Cassandra: `CassandraAnalyticsStore.record` (rows grouped by partition, unlogged
   batches, at most `--concurrency` in flight; the rollups are refreshed by `flush`, timed
   apart and shown with the ratio it would give) against a raw driver loop of single-row
   prepared inserts (`execute_concurrent_with_args`, same concurrency), one row per event into
   the same product table: events/s of both and the ratio (target 0.8). The ingest path writes
   every event to three or four tables, the raw loop to one.
2. The whole path: batches through the outbox (`record_storefront`) and the analytics
   projector to Cassandra, events/s (until the relay is idle, its rollup flushes included),
   twice: events spread over a whole day of 2,000 products (the worst case for the rollups:
   nearly every event is a product-hour of its own) and events of the last hour (live
   traffic: the batches of a flush interval share their product-hours).
3. `--events` events loaded into both stores (Cassandra and the PostgreSQL twin; the rollup
   flush included), then p50/p99 of each query, one at a time, on random keys, side by side
   (`--events 0` leaves this part out).

Without `--cassandra-hosts` a Cassandra 5.0 node is started for the run (jars cached as for the
tests) and stopped at the end; PostgreSQL is the embedded one under `--data-dir`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from cassandra.concurrent import execute_concurrent_with_args
from rich.console import Console
from rich.table import Table

from bench._common import RESULTS, ROOT, fresh_database, percentile
from polyshop import bootstrap
from polyshop.adapters.cassandra import (
    CassandraAnalyticsStore,
    connect,
    event_time,
    upgrade_schema,
)
from polyshop.adapters.postgres import PostgresAnalyticsStore
from polyshop.domain.analytics import STOREFRONT_TYPES, AnalyticsEvent, EventType
from polyshop.ports import AnalyticsStore
from polyshop.settings import Settings
from polyshop.sync.maintenance import start_at_head

console = Console()
DATABASE = "polyshop_bench_analytics"
KEYSPACE = "polyshop_bench"
PRODUCTS, CATEGORIES, USERS = 2000, 40, 20000
CHUNK = 1000  # events per record() call, as a projector batch would carry
DAY = (datetime.now(UTC) - timedelta(days=1)).date()
_TYPES = [EventType.VIEW] * 14 + [EventType.SEARCH] * 2 + [EventType.ADD_TO_CART] * 2 + [
    EventType.REMOVE_FROM_CART, EventType.PURCHASE]  # fmt: skip


class World:
    def __init__(self, tenant_id: UUID, seed: int = 7) -> None:
        self.tenant_id = tenant_id
        self.rng = random.Random(seed)
        self.products = [uuid4() for _ in range(PRODUCTS)]
        self.categories = [uuid4() for _ in range(CATEGORIES)]
        self.category_of = {p: self.rng.choice(self.categories) for p in self.products}
        self.users = [uuid4() for _ in range(USERS)]
        self.orders: list[UUID] = []

    def events(
        self, n: int, start: datetime | None = None, span: timedelta = timedelta(days=1)
    ) -> list[AnalyticsEvent]:
        """`n` events at random times in [start, start + span) (by default the whole of DAY)."""
        rng = self.rng
        start = start or datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
        micros = int(span.total_seconds() * 1_000_000)
        out = []
        for _ in range(n):
            kind = rng.choice(_TYPES)
            # A tenth of the traffic is one hot product (its day spans every bucket).
            product = self.products[0] if rng.random() < 0.1 else rng.choice(self.products)
            user = rng.choice(self.users)
            when = start + timedelta(microseconds=rng.randrange(micros))
            extra: dict[str, Any] = {}
            if kind == EventType.SEARCH:
                extra = {"query": "lamp", "session_id": "s"}
                product_fields: dict[str, Any] = {}
            else:
                product_fields = {"product_id": product, "category_id": self.category_of[product]}
            if kind in (EventType.ADD_TO_CART, EventType.REMOVE_FROM_CART):
                extra = {"quantity": 1}
            if kind == EventType.PURCHASE:
                order = uuid4()
                self.orders.append(order)
                extra = {"quantity": 1, "amount": Decimal(rng.randrange(100, 20000)) / 100,
                         "order_id": order}  # fmt: skip
            out.append(AnalyticsEvent(self.tenant_id, uuid4(), kind, when, customer_id=user,
                                      **product_fields, **extra))  # fmt: skip
        return out


async def record_all(
    store: AnalyticsStore, events: list[AnalyticsEvent], *, flush: bool = True
) -> float:
    """Seconds to record the events in projector-sized batches, one batch after another, and
    (`flush`) to bring the rollups up to them, as the projector does when it is idle."""
    started = time.perf_counter()
    for i in range(0, len(events), CHUNK):
        await store.record(events[i : i + CHUNK])
    if flush:
        await store.flush()
    return time.perf_counter() - started


def raw_inserts(hosts: str, events: list[AnalyticsEvent], concurrency: int) -> float:
    """Seconds for single-row prepared inserts of the events into product_analytics."""
    cluster = connect(hosts, local_dc="datacenter1", consistency="LOCAL_QUORUM")
    try:
        session = cluster.connect(KEYSPACE)
        insert = session.prepare(
            "INSERT INTO product_analytics (tenant_id, product_id, event_date, bucket, event_hour,"
            " event_type, event_time) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        rows = [(e.tenant_id, e.product_id or e.event_id, e.day, e.bucket, e.hour, str(e.type),
                 event_time(e)) for e in events]  # fmt: skip
        started = time.perf_counter()
        execute_concurrent_with_args(
            session, insert, rows, concurrency=concurrency, raise_on_first_error=True
        )
        return time.perf_counter() - started
    finally:
        cluster.shutdown()


async def latencies(
    n: int, query: Callable[[random.Random], Awaitable[object]]
) -> tuple[float, float]:
    rng = random.Random(11)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await query(rng)
        samples.append((time.perf_counter() - started) * 1000)
    return percentile(samples, 0.5), percentile(samples, 0.99)


def queries(
    world: World,
) -> dict[str, Callable[[AnalyticsStore, random.Random], Awaitable[object]]]:
    t = world.tenant_id
    return {
        "user timeline (day)": lambda s, r: s.user_timeline(t, f"customer:{r.choice(world.users)}", DAY),
        "product hourly (hot product)": lambda s, r: s.product_hourly(t, world.products[0], DAY),
        "product hourly (random)": lambda s, r: s.product_hourly(t, r.choice(world.products), DAY),
        "funnel product": lambda s, r: s.funnel(t, DAY, product_id=r.choice(world.products)),
        "funnel category": lambda s, r: s.funnel(t, DAY, category_id=r.choice(world.categories)),
        "top products by views": lambda s, r: s.top_products(t, DAY, by="views"),
        "top products by revenue": lambda s, r: s.top_products(t, DAY, by="revenue"),
        "order history": lambda s, r: s.order_history(t, r.choice(world.orders)),
    }  # fmt: skip


async def run(options: argparse.Namespace, hosts: str) -> dict[str, Any]:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=options.data_dir, database=DATABASE, pool_max_size=8, embedded_fsync=False,
        cassandra_hosts=hosts, cassandra_keyspace=KEYSPACE,
        cassandra_concurrency=options.concurrency,
    )  # fmt: skip
    urls = fresh_database(settings)
    report: dict[str, Any] = {"events": options.events, "ingest_events": options.ingest,
                              "concurrency": options.concurrency}  # fmt: skip
    async with bootstrap.application(settings, urls) as app:
        tenant = await app.tenants.create("bench-analytics", "Bench")
        world = World(tenant.id)
        cassandra = CassandraAnalyticsStore(hosts, KEYSPACE, concurrency=options.concurrency)
        postgres = PostgresAnalyticsStore(app.relay_database)  # the relay's role writes analytics
        stores: dict[str, AnalyticsStore] = {"Cassandra": cassandra, "PostgreSQL": postgres}

        # 1. ingest against the raw driver loop (warm both up first: prepared statements, JIT).
        await cassandra.record(world.events(2000))
        await cassandra.flush()
        await asyncio.to_thread(raw_inserts, hosts, world.events(2000), options.concurrency)
        sample = world.events(options.ingest)
        raw_s = await asyncio.to_thread(raw_inserts, hosts, sample, options.concurrency)
        ingest_s = await record_all(cassandra, world.events(options.ingest), flush=False)
        # The rollups of those events, refreshed once afterwards (off the ingest path).
        started = time.perf_counter()
        await cassandra.flush()
        flush_s = time.perf_counter() - started
        rows = sum(len(r) for r in cassandra.rows(sample).values())
        report["ingest"] = {
            "raw_events_per_s": options.ingest / raw_s,
            "ingest_events_per_s": options.ingest / ingest_s,
            "ingest_rows_per_event": rows / options.ingest,
            "ratio": raw_s / ingest_s,
            "flush_seconds": flush_s,
            "ratio_with_flush": raw_s / (ingest_s + flush_s),
        }
        # 2. the whole path: outbox, projector, Cassandra.
        relay = app.relays["analytics"]
        await start_at_head(relay)
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        spreads = (
            ("outbox_path_events_per_s", None, timedelta(days=1)),
            ("outbox_path_hour_events_per_s", hour_ago, timedelta(minutes=59)),
        )
        for key, start, span in spreads:
            made = world.events(options.path, start, span)
            path = [e for e in made if e.type in STOREFRONT_TYPES]
            started = time.perf_counter()
            for i in range(0, len(path), 100):
                await app.analytics.record_storefront(tenant.id, path[i : i + 100])
            await relay.run_until_idle()
            report[key] = len(path) / (time.perf_counter() - started)
        if not options.events:
            await cassandra.close()
            return report

        # 3. load, then query both stores.
        load = world.events(options.events)
        report["load_seconds"] = {}
        for name, store in stores.items():
            report["load_seconds"][name] = await record_all(store, load)
        report["queries"] = {}
        for label, query in queries(world).items():
            report["queries"][label] = {
                name: dict(zip(("p50_ms", "p99_ms"), await latencies(
                    options.queries, lambda r, s=store, q=query: q(s, r)), strict=True))  # type: ignore[misc]
                for name, store in stores.items()
            }  # fmt: skip
        await cassandra.close()
    return report


def show(report: dict[str, Any]) -> None:
    ingest = report["ingest"]
    table = Table(title=f"ingest on Cassandra, {report['ingest_events']:,} events, "
                        f"{report['concurrency']} in flight")  # fmt: skip
    for column in ("raw single-row inserts events/s", "ingest path events/s",
                   "rows per event (ingest)", "ingest ÷ raw"):  # fmt: skip
        table.add_column(column, justify="right")
    table.add_row(f"{ingest['raw_events_per_s']:,.0f}", f"{ingest['ingest_events_per_s']:,.0f}",
                  f"{ingest['ingest_rows_per_event']:.2f}", f"{ingest['ratio']:.2f}")  # fmt: skip
    console.print(table)
    console.print(
        f"rollup flush after the ingest: {ingest['flush_seconds']:.2f} s"
        f" (ratio with it: {ingest['ratio_with_flush']:.2f})"
    )
    console.print(
        "outbox → projector → Cassandra, events/s:"
        f" {report['outbox_path_events_per_s']:,.0f} spread over a day (the worst case),"
        f" {report['outbox_path_hour_events_per_s']:,.0f} in the last hour"
    )
    if "queries" not in report:
        return
    loads = report["load_seconds"]
    table = Table(title=f"{report['events']:,} events loaded: Cassandra "
                        f"{loads['Cassandra']:.1f} s, PostgreSQL {loads['PostgreSQL']:.1f} s; "
                        "query latency, one at a time")  # fmt: skip
    for column in ("query", "Cassandra p50 ms", "p99 ms", "PostgreSQL p50 ms", "p99 ms"):
        table.add_column(column, justify="right" if column != "query" else "left")
    for label, by_store in report["queries"].items():
        c, p = by_store["Cassandra"], by_store["PostgreSQL"]
        table.add_row(label, f"{c['p50_ms']:.1f}", f"{c['p99_ms']:.1f}", f"{p['p50_ms']:.1f}",
                      f"{p['p99_ms']:.1f}")  # fmt: skip
    console.print(table)


def verdict(report: dict[str, Any]) -> None:
    ratio = report["ingest"]["ratio"]
    console.print(
        f"ingest ratio {ratio:.2f}: {'meets' if ratio >= 0.8 else 'misses'} the target of 0.8"
    )


def fresh_keyspace(hosts: str) -> None:
    cluster = connect(hosts, local_dc="datacenter1", consistency="LOCAL_QUORUM", request_timeout=60)
    try:
        cluster.connect().execute(f"DROP KEYSPACE IF EXISTS {KEYSPACE}")
    finally:
        cluster.shutdown()
    upgrade_schema(hosts, KEYSPACE, "SimpleStrategy:1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest", type=int, default=20_000, help="events for the ingest race")
    parser.add_argument("--events", type=int, default=200_000, help="events loaded for queries")
    parser.add_argument(
        "--path",
        type=int,
        default=None,
        help="events sent through the outbox per spread (default: a quarter of --ingest)",
    )
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--queries", type=int, default=100, help="samples per query and store")
    parser.add_argument("--cassandra-hosts", default=None)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    options = parser.parse_args()
    if options.path is None:
        options.path = options.ingest // 4
    node = None
    hosts = options.cassandra_hosts
    if hosts is None:
        from tests.support.cassandra import SingleNode

        node = SingleNode(heap="1g")
        with console.status("starting Cassandra ..."):
            node.start()
        hosts = node.hosts
    try:
        fresh_keyspace(hosts)
        report = asyncio.run(run(options, hosts))
    finally:
        if node is not None:
            node.stop()
    show(report)
    verdict(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analytics.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
