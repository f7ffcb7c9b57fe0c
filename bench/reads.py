"""One product page, four ways, in one run; and the relay's lag at a sustained order rate.

    uv run python -m bench.reads [--clients 8] [--seconds 5] [--rate 100] [--backlog 1000]

(a) normalised PostgreSQL: `CatalogService.product` (the product, variants, attributes, images,
category path and rating: six queries); (b) the JSONB document; (c) the MongoDB document
(FerretDB here, SQLite-backed: a stand-in for MongoDB, not a measurement of it); (d) the Redis
cache (`CatalogReads.product_page`). Then orders are placed at `--rate` per second while the
relay runs, and the lag from an event's commit to its document being written is reported.
Last, a backlog: orders placed as fast as checkout goes with the relay stopped, then applied;
the relay's events/s against the checkout's is its headroom.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from rich.console import Console
from rich.table import Table

from bench._common import (
    ADDRESS,
    DATABASE,
    RESULTS,
    ROOT,
    FerretDB,
    measure,
    percentile,
    prepare,
    sample,
)
from polyshop import bootstrap
from polyshop.adapters.mongo import MongoDocumentStore
from polyshop.ports import OutboxEvent
from polyshop.services.checkout import CheckoutRequest, OrderLine
from polyshop.settings import Settings
from polyshop.sync import DocumentProjector, Relay
from polyshop.sync.maintenance import rebuild

console = Console()


class TimedRelay(Relay):
    """Records, for every event it applies, the time from its commit to its document's write."""

    lags_ms: list[float]

    async def step_events(self) -> list[OutboxEvent]:
        events = await super().step_events()
        now = datetime.now(UTC)
        self.lags_ms += [(now - e.created_at).total_seconds() * 1000 for e in events]
        return events


async def backlog(
    app: bootstrap.Container, tenant_id: UUID, customers: list[UUID], products: list[UUID],
    options: argparse.Namespace,
) -> dict[str, float]:  # fmt: skip
    """With the relay stopped, `--clients` tasks place `--backlog` orders as fast as checkout
    goes (the events to apply, and the rate they arrive at, at most); then the relay applies the
    backlog from its checkpoint. Its events/s over the checkout's is the projector's headroom."""
    relay = app.relay
    await relay.run_until_idle()
    queue = list(range(options.backlog))

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        while queue:
            queue.pop()
            await app.checkout.place_order(tenant_id, CheckoutRequest(
                customer_id=rng.choice(customers),
                lines=tuple(OrderLine(p, 1) for p in rng.sample(products, 3)),
                shipping_address=ADDRESS,
            ))  # fmt: skip

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(options.clients)))
    placing = time.perf_counter() - started
    events, _ = await relay.pending()
    started = time.perf_counter()
    applied = await relay.run_until_idle()
    applying = time.perf_counter() - started
    return {
        "orders": options.backlog,
        "checkout_orders_per_s": options.backlog / placing,
        "checkout_events_per_s": events / placing,
        "events": applied,
        "relay_events_per_s": applied / applying,
    }


async def run(options: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(
        data_dir=options.data_dir,
        database=DATABASE,
        pool_min_size=options.clients,  # type: ignore[call-arg]
        pool_max_size=options.clients + 4,
    )
    urls, tenant_id, customers, products = await prepare(settings, options.products)
    ferretdb = FerretDB()
    ferretdb.start()
    results: dict[str, Any] = {}
    try:
        async with bootstrap.application(settings, urls) as app:
            await app.relay.run_until_idle()  # JSONB documents
            mongo = MongoDocumentStore(
                ferretdb.url, app.relay_database, database_name="polyshop_bench"
            )
            await mongo.prepare()
            await rebuild(
                Relay(
                    app.relay_database,
                    DocumentProjector(app.relay_database, mongo, name="bench-mongo"),
                ),
                tenants=[tenant_id],
            )
            for product_id in products:
                await app.catalog_reads.product_page(tenant_id, product_id)
            ids = [str(p) for p in products]
            sources: dict[str, Callable[[random.Random], Awaitable[Any]]] = {
                "PostgreSQL joins": lambda r: app.catalog.product(
                    tenant_id, product_id=UUID(r.choice(ids))
                ),
                "PostgreSQL JSONB document": lambda r: app.documents.get(
                    tenant_id, "products", r.choice(ids)
                ),
                "MongoDB document (FerretDB)": lambda r: mongo.get(
                    tenant_id, "products", r.choice(ids)
                ),
                "Redis cache": lambda r: app.catalog_reads.product_page(
                    tenant_id, UUID(r.choice(ids))
                ),
            }
            reads = {}
            for name, read in sources.items():
                rate, latencies = await measure(options.clients, options.seconds, read)
                reads[name] = {
                    "per_s": rate,
                    "p50_ms": percentile(latencies, 0.5),
                    "p99_ms": percentile(latencies, 0.99),
                    "latencies_ms": sample(latencies),
                }
            results["reads"] = reads
            await mongo.close()

            relay = TimedRelay(
                app.relay_database, DocumentProjector(app.relay_database, app.documents)
            )
            relay.lags_ms = []
            stop = asyncio.Event()
            worker = asyncio.create_task(relay.run(urls.postgres, stop, poll_seconds=0.5))
            # `--clients` shoppers share the rate (one alone cannot go faster than one
            # checkout's latency allows); each order is due at its slot in the schedule.
            placed = 0
            started = time.perf_counter()

            async def shopper(seed: int) -> None:
                nonlocal placed
                rng = random.Random(seed)
                while time.perf_counter() - started < options.seconds * 2:
                    due = started + placed / options.rate
                    placed += 1
                    await asyncio.sleep(max(0.0, due - time.perf_counter()))
                    await app.checkout.place_order(tenant_id, CheckoutRequest(
                        customer_id=rng.choice(customers),
                        lines=tuple(OrderLine(p, 1) for p in rng.sample(products, 3)),
                        shipping_address=ADDRESS,
                    ))  # fmt: skip

            await asyncio.gather(*(shopper(n) for n in range(options.clients)))
            achieved = placed / (time.perf_counter() - started)
            while (await relay.pending())[0]:
                await asyncio.sleep(0.1)
            stop.set()
            await worker
            results["relay"] = {
                "orders_per_s": achieved,
                "events": len(relay.lags_ms),
                "lag_p50_ms": percentile(relay.lags_ms, 0.5),
                "lag_p99_ms": percentile(relay.lags_ms, 0.99),
            }
            if options.backlog:
                results["backlog"] = await backlog(app, tenant_id, customers, products, options)
    finally:
        ferretdb.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rate", type=float, default=100, help="orders per second for the lag run")
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument(
        "--backlog",
        type=int,
        default=1000,
        help="orders placed with the relay stopped, then applied (0: skip)",
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    options = parser.parse_args()
    results = asyncio.run(run(options))
    baseline = results["reads"]["PostgreSQL joins"]["per_s"]
    table = Table(
        title=f"product page reads, {options.clients} concurrent tasks, {options.seconds:.0f} s each"
    )
    for column in ("source", "reads/s", "p50 ms", "p99 ms", "÷ joins"):
        table.add_column(column, justify="right")
    for name, r in results["reads"].items():
        table.add_row(
            name,
            f"{r['per_s']:,.0f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['per_s'] / baseline:.2f}",
        )
    console.print(table)
    relay = results["relay"]
    console.print(
        f"relay at {relay['orders_per_s']:.0f} orders/s: {relay['events']} events, "
        f"lag p50 {relay['lag_p50_ms']:.0f} ms, p99 {relay['lag_p99_ms']:.0f} ms"
    )
    if "backlog" in results:
        b = results["backlog"]
        console.print(
            f"backlog of {b['orders']} orders (checkout {b['checkout_orders_per_s']:.0f} orders/s,"
            f" {b['checkout_events_per_s']:.0f} events/s): the relay applied {b['events']} events"
            f" at {b['relay_events_per_s']:.0f} events/s"
            f" (÷ checkout {b['relay_events_per_s'] / b['checkout_events_per_s']:.2f})"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reads.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
