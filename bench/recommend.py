"""Recommendations on Neo4j 5 and on the PostgreSQL twin, in one run.

    uv run python -m bench.recommend [--orders 20000] [--products 2000] [--customers 10000]
                                     [--seconds 3] [--clients 4]

1. A synthetic shop (categories, brands, products with attributes; orders of 1-4 products with
   a skewed popularity, spread over 60 days) is loaded into each graph through the projector's
   write path (`sync.graph.apply_changes`, chunks of 500 orders, one transaction each: stored
   orders read back, weights moved by the difference, PURCHASED and ALSO_BOUGHT maintained).
   The facts are generated, not read from PostgreSQL: this measures the graph side.
2. Baseline: a raw loop of the same MERGE statements on the same adapter (orders, bought-
   together increments, trend), without reading what is stored and without PURCHASED /
   ALSO_BOUGHT upkeep, i.e. what a non-idempotent bulk loader would write.
3. p50/p99 of each of the five recommenders on each adapter (random subjects, `--clients`
   concurrent tasks, `--seconds` each).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from rich.console import Console
from rich.table import Table
from tests.support.neo4j_server import Neo4jServer

from bench._common import RESULTS, ROOT, fresh_database, percentile
from polyshop import bootstrap
from polyshop.adapters.neo4j import Neo4jGraphStore
from polyshop.adapters.postgres import (
    Database,
    PostgresGraphStore,
)
from polyshop.domain.recommendations import (
    CategoryFact,
    OrderFact,
    ProductFact,
    RecommendationKind,
    order_delta,
)
from polyshop.ports import GraphStore
from polyshop.services.recommendations import RecommendationService
from polyshop.settings import Settings
from polyshop.sync.graph import GraphChanges, apply_changes

DATABASE = "polyshop_bench_graph"
CHUNK = 500
console = Console()


class Shop:
    def __init__(self, options: argparse.Namespace, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.now = datetime.now(UTC)
        root = CategoryFact(uuid4(), "All", None)
        self.categories = [root] + [CategoryFact(uuid4(), f"Category {i}", root.id)
                                    for i in range(options.categories)]  # fmt: skip
        brands = [uuid4() for _ in range(options.categories)]
        colours = ["black", "white", "red", "blue", "green"]
        self.products = [
            ProductFact(uuid4(), f"Product {i}", i % 50 != 0, rng.choice(self.categories[1:]).id,
                        rng.choice(brands), tuple(sorted({f"colour={rng.choice(colours)}",
                                                          f"size={rng.randint(1, 5)}"})))
            for i in range(options.products)
        ]  # fmt: skip
        self.customers = [uuid4() for _ in range(options.customers)]
        # Popularity: a few products are in many orders (the hot products of a real shop).
        weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(self.products))]
        ids = [p.id for p in self.products]
        self.orders = []
        for _ in range(options.orders):
            items = tuple(sorted(set(rng.choices(ids, weights, k=rng.randint(1, 4))), key=str))
            placed = self.now - timedelta(days=rng.random() * 60)
            self.orders.append(OrderFact(uuid4(), rng.choice(self.customers), placed, True,
                                         items, "card"))  # fmt: skip


async def load(store: GraphStore, tenant: UUID, shop: Shop) -> float:
    """Catalog, then the orders in chunks through the projector's write path; orders/s."""
    async with store.writer(tenant) as writer:
        await apply_changes(writer, GraphChanges(categories={c.id: c for c in shop.categories}))
    for start in range(0, len(shop.products), CHUNK):
        async with store.writer(tenant) as writer:
            await apply_changes(writer, GraphChanges(
                products={p.id: p for p in shop.products[start:start + CHUNK]}))  # fmt: skip
    started = time.perf_counter()
    for start in range(0, len(shop.orders), CHUNK):
        async with store.writer(tenant) as writer:
            await apply_changes(writer, GraphChanges(
                orders={o.id: o for o in shop.orders[start:start + CHUNK]}))  # fmt: skip
    return len(shop.orders) / (time.perf_counter() - started)


async def raw_loop(store: GraphStore, tenant: UUID, shop: Shop) -> float:
    """The same MERGE statements for the same orders, nothing read, nothing else kept."""
    async with store.writer(tenant) as writer:
        await writer.put_products([p for p in shop.products])
    started = time.perf_counter()
    for start in range(0, len(shop.orders), CHUNK):
        chunk = shop.orders[start : start + CHUNK]
        delta = order_delta((None, o) for o in chunk)
        async with store.writer(tenant) as writer:
            await writer.put_orders(chunk)
            await writer.add_pairs(RecommendationKind.BOUGHT_TOGETHER, delta.bought_together)
            await writer.add_trend(delta.trend)
    return len(shop.orders) / (time.perf_counter() - started)


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
    store: GraphStore, tenant: UUID, shop: Shop, options: argparse.Namespace
) -> dict[str, dict[str, float]]:
    service = RecommendationService(store)  # no cache: the store is what is measured
    products = [p.id for p in shop.products]
    categories = [c.id for c in shop.categories]
    kinds: dict[str, Callable[[random.Random], Awaitable[Any]]] = {
        kind.value: (lambda k: lambda r: service.for_product(tenant, r.choice(products), k))(kind)
        for kind in (RecommendationKind.BOUGHT_TOGETHER, RecommendationKind.ALSO_BOUGHT,
                     RecommendationKind.SIMILAR)
    }  # fmt: skip
    kinds["trending"] = lambda r: service.trending(tenant, r.choice(categories))
    kinds["for_you"] = lambda r: service.for_customer(tenant, r.choice(shop.customers))
    # The hottest product: the case where walking two hops costs most.
    kinds["bought_together (hottest)"] = lambda r: service.for_product(
        tenant, products[0], RecommendationKind.BOUGHT_TOGETHER
    )
    return {
        name: await measure(options.clients, options.seconds, read) for name, read in kinds.items()
    }


async def run(options: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(data_dir=options.data_dir, database=DATABASE)  # type: ignore[call-arg]
    urls = fresh_database(settings)
    shop = Shop(options)
    server = Neo4jServer()
    server.start()
    # The graph is written by the relay's role (the application's only reads it).
    database = Database(
        urls.postgres_relay or urls.postgres, min_size=2, max_size=options.clients + 4
    )
    await database.open()
    results: dict[str, Any] = {"orders": options.orders, "products": options.products,
                               "customers": options.customers}  # fmt: skip
    neo4j = Neo4jGraphStore(server.url, server.user, server.password)
    try:
        async with bootstrap.application(settings, urls) as app:
            tenants = [(await app.tenants.create(f"bench-{n}", "Bench")).id for n in range(2)]
        stores: dict[str, GraphStore] = {"neo4j": neo4j, "postgres": PostgresGraphStore(database)}
        for name, store in stores.items():
            await store.setup()
            loaded = time.perf_counter()
            projector = await load(store, tenants[0], shop)
            load_seconds = time.perf_counter() - loaded
            raw = await raw_loop(store, tenants[1], shop)
            snapshot = await store.snapshot(tenants[0])
            console.print(f"{name}: loaded in {load_seconds:.0f} s")
            results[name] = {
                "projector_orders_per_s": projector,
                "raw_loop_orders_per_s": raw,
                "ratio": projector / raw,
                "relationships": {k: len(v) for k, v in snapshot.items()},
                "recommenders": await recommenders(store, tenants[0], shop, options),
            }
    finally:
        await neo4j.close()
        await database.close()
        server.remove()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--categories", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    options = parser.parse_args()
    results = asyncio.run(run(options))
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
            f"{name}: projector {r['projector_orders_per_s']:,.0f} orders/s, raw MERGE loop "
            f"{r['raw_loop_orders_per_s']:,.0f} orders/s, ratio {r['ratio']:.2f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "recommend.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
