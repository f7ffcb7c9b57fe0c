"""Hot reads at scale: the same reads on seeded platforms of growing size, p99 against the
smallest.

    uv run python -m bench.scale --orders 10000,100000 [--clients 4] [--seconds 5]
    uv run python -m bench.scale --orders 10000,1000000 --existing 1000000=/work/scale/1m

Each scale is a database of its own, seeded by `polyshop seed`'s generator (3 shops; per order:
one customer, a tenth of a product, ten storefront events) and its derived stores rebuilt; a
database already seeded at that scale is reused (`--reseed` forces a fresh one), and
`--existing ORDERS=DATA_DIR[:DATABASE]` names a platform seeded by `polyshop seed` elsewhere (the
million-order run of docs/benchmarks.md) to use as that scale: it must hold exactly that many
orders, and is never reseeded nor rebuilt (its derived stores are the seed run's). Then, for one
shop, each read runs with `--clients` concurrent tasks for `--seconds`: the product page from
PostgreSQL (six queries), a filtered listing (category subtree, price range, keyset page), a
customer's order history from the document store, the same customer's orders as an admin sees
them (SQL), and the analytics queries (top products of a day, a product's funnel). The baseline
of each read is the same read at the smallest scale of the run; the target is a p99 at most
twice that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from bench._common import RESULTS, ROOT, fresh_database, measure, percentile, sample
from polyshop import bootstrap
from polyshop.services.catalog import ProductQuery
from polyshop.services.seeding import Seeder, SeedPlan
from polyshop.settings import Settings
from polyshop.sync.maintenance import rebuild

console = Console()
TARGET = 2.0  # p99 at this scale ÷ p99 at the smallest, at most
Read = Callable[[random.Random], Awaitable[object]]


def plan_for(orders: int) -> SeedPlan:
    return SeedPlan(shops=3, users=orders, products=max(orders // 10, 60), orders=orders,
                    events=orders * 10, seed=1, months=12)  # fmt: skip


def _orders_in(admin_url: str) -> int:
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute("SELECT count(*) FROM orders").fetchone()
    except psycopg.Error:
        return -1
    return int(row[0]) if row else -1


def existing(option: list[str]) -> dict[int, tuple[Path, str]]:
    """`--existing 1000000=/work/scale/1m[:polyshop]` -> {1000000: (data dir, database)}."""
    found = {}
    for entry in option:
        orders, _, where = entry.partition("=")
        data_dir, _, database = where.partition(":")
        if not orders.isdigit() or not data_dir:
            raise SystemExit(f"--existing wants ORDERS=DATA_DIR[:DATABASE], not {entry!r}")
        found[int(orders)] = (Path(data_dir), database or "polyshop")
    return found


async def prepare(
    data_dir: Path, orders: int, reseed: bool, given: tuple[Path, str] | None = None
) -> tuple[Settings, float | None]:
    """The seeded database for this scale, and how long seeding took (None: reused)."""
    if given is not None:
        settings = Settings(data_dir=given[0], database=given[1])  # type: ignore[call-arg]
        urls = bootstrap.store_urls(settings)
        assert urls.postgres_admin is not None
        held = _orders_in(urls.postgres_admin)
        if held != orders:
            raise SystemExit(f"{given[0]} ({given[1]}) holds {held} orders, not {orders}")
        bootstrap.migrate(urls)  # seeded by an older schema: reads need today's tables
        return settings, None
    settings = Settings(data_dir=data_dir, database=f"polyshop_scale_{orders}")  # type: ignore[call-arg]
    urls = bootstrap.store_urls(settings)
    assert urls.postgres_admin is not None
    if not reseed and _orders_in(urls.postgres_admin) == orders:
        bootstrap.migrate(urls)  # seeded by an older schema: reads need today's tables
        return settings, None
    started = time.perf_counter()
    urls = fresh_database(settings)
    assert urls.postgres_admin is not None
    with console.status(f"seeding {orders:,} orders ..."):
        await Seeder(urls.postgres_admin).run(plan_for(orders))
    with console.status("rebuilding the derived stores ..."):
        async with bootstrap.application(settings, urls) as app:
            for relay in app.relays:
                await rebuild(relay)
    return settings, time.perf_counter() - started


async def run_reads(settings: Settings, clients: int, seconds: float) -> dict[str, Any]:
    async with bootstrap.application(settings) as app:
        async with app.database.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT id FROM tenants ORDER BY created_at, slug LIMIT 1"
            )
            (tenant,) = await cursor.fetchone() or (None,)
        async with app.database.unit_of_work(tenant) as uow:

            async def ids(query: str) -> list[Any]:
                cursor = await uow.connection.execute(query)
                return [row[0] for row in await cursor.fetchall()]

            products = await ids("SELECT id FROM products WHERE status = 'active' LIMIT 500")
            customers = await ids("SELECT DISTINCT user_id FROM orders LIMIT 500")
            categories = await ids("SELECT id FROM categories WHERE parent_id IS NULL")
            popular = await ids(
                "SELECT product_id FROM order_items GROUP BY product_id"
                " ORDER BY count(*) DESC LIMIT 50"
            )
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=n) for n in range(1, 60)]

        def day(r: random.Random) -> date:
            return r.choice(days)

        reads: dict[str, Read] = {
            "product page (PostgreSQL)": lambda r: app.catalog.product(
                tenant, product_id=r.choice(products)
            ),
            "listing with filters": lambda r: app.catalog.list_products(
                tenant,
                ProductQuery(
                    category_id=r.choice(categories),
                    min_price=Decimal(20),
                    max_price=Decimal(400),
                    sort="price_asc",
                ),
            ),
            "order history (documents)": lambda r: app.document_reads.order_history(
                tenant, r.choice(customers)
            ),
            "customer's orders (admin, SQL)": lambda r: app.orders.history(
                tenant, r.choice(customers)
            ),
            "analytics top products": lambda r: app.analytics.top_products(tenant, day(r)),
            "analytics funnel": lambda r: app.analytics.funnel(
                tenant, day(r), product_id=r.choice(popular)
            ),
        }
        results: dict[str, Any] = {}
        for name, read in reads.items():
            await measure(clients, min(seconds, 1.0), read)  # warm-up: pool, plans, caches
            rate, latencies = await measure(clients, seconds, read)
            results[name] = {"per_s": rate, "p50_ms": percentile(latencies, 0.5),
                             "p99_ms": percentile(latencies, 0.99),
                             "latencies_ms": sample(latencies)}  # fmt: skip
    return results


def database_size(settings: Settings) -> int:
    urls = bootstrap.store_urls(settings)
    assert urls.postgres_admin is not None
    with psycopg.connect(urls.postgres_admin, autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", default="10000", help="scales, comma-separated")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    parser.add_argument("--existing", action="append", default=[],
                        help="ORDERS=DATA_DIR[:DATABASE]: a platform seeded elsewhere for that"
                             " scale (reused as it is)")  # fmt: skip
    options = parser.parse_args()
    given = existing(options.existing)
    scales = sorted(int(n) for n in options.orders.split(","))
    report: dict[str, Any] = {"clients": options.clients, "seconds": options.seconds,
                              "target_p99_ratio": TARGET, "scales": {}}  # fmt: skip
    for orders in scales:
        settings, seeded = asyncio.run(
            prepare(options.data_dir, orders, options.reseed, given.get(orders))
        )
        reads = asyncio.run(run_reads(settings, options.clients, options.seconds))
        report["scales"][str(orders)] = {"seed_seconds": seeded,
                                         "database_bytes": database_size(settings),
                                         "reads": reads}  # fmt: skip
    smallest = report["scales"][str(scales[0])]["reads"]
    table = Table(
        title=f"hot reads at scale, {options.clients} clients, {options.seconds:g} s each"
    )
    for column in ("read", "orders", "reads/s", "p50 ms", "p99 ms", f"p99 ÷ at {scales[0]:,}"):
        table.add_column(column, justify="right" if column != "read" else "left")
    for name in smallest:
        for orders in scales:
            r = report["scales"][str(orders)]["reads"][name]
            ratio = r["p99_ms"] / smallest[name]["p99_ms"]
            table.add_row(name, f"{orders:,}", f"{r['per_s']:,.0f}", f"{r['p50_ms']:.2f}",
                          f"{r['p99_ms']:.2f}", f"{ratio:.2f}")  # fmt: skip
    console.print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
