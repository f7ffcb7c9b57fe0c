"""Hot reads at scale: the same reads on seeded platforms of growing size, p99 against the
smallest.

    uv run python -m bench.scale --orders 10000,100000 [--clients 4] [--seconds 5]
    uv run python -m bench.scale --orders 10000,1000000 --existing 1000000=/work/scale/1m
    uv run python -m bench.scale ... --only reads,checkout   # groups: reads, recommendations, checkout
    uv run python -m bench.scale ... --rounds 3   # sizes interleaved, median of the rounds

Each scale is a database of its own, seeded by `polyshop seed`'s generator (3 shops; per order:
one customer, a tenth of a product, ten storefront events) and its derived stores rebuilt; a
database already seeded at that scale is reused (`--reseed` forces a fresh one), and
`--existing ORDERS=DATA_DIR[:DATABASE]` names a platform seeded by `polyshop seed` elsewhere (the
million-order run of docs/benchmarks.md) to use as that scale: it must hold exactly that many
orders placed by the seed (the bench's own checkouts are not counted, see below), and is never
reseeded nor rebuilt (its derived stores are the seed run's). Then, for one shop, each
operation runs with `--clients` concurrent tasks for `--seconds`, in three groups (`--only`):

- reads: the product page from PostgreSQL (six queries), a filtered listing (category subtree,
  price range, keyset page), a customer's order history from the document store, the same
  customer's orders as an admin sees them (SQL), and the analytics queries (top products of a
  day, a product's funnel);
- recommendations: the five recommenders through `RecommendationService` on the profile's graph
  store (bought_together, also_bought, similar and trending of a product, for_you of a
  customer), without the Redis cache in front (the store is what grows). Skipped, with a line
  saying why, when the shop's graph is not built (no graph checkpoint, or on the PostgreSQL
  twin fewer orders in the graph than the shop's seeded orders: a rebuild that did not finish);
- checkout: `CheckoutService.place_order` for customers without seeded orders (never the
  customers whose histories the reads measure), one to three lines of the
  shop's best-stocked products, through the test payment gateway. These orders are real and
  stay (a live platform keeps taking orders; there is no path that deletes an order, and a
  cancelled one is still an order): each carries the note `BENCH_NOTE`, which the seed-size
  check leaves out, and afterwards the projectors' relays catch up on their events, so the
  documents and analytics stay in step with PostgreSQL (`sync verify` finds no drift). The
  graph's relay is only run when the graph is built; an unbuilt graph is left to its rebuild,
  which reads PostgreSQL and so includes them.

The baseline of each operation is the same operation at the smallest scale of the run; the
target is a p99 at most twice that. With `--rounds N` every size is measured N times, the sizes
interleaved (and in the other order every other round), and each figure is the median of the
rounds: on a shared machine the load changes between one size's measurement and the next.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from bench._common import ADDRESS, RESULTS, ROOT, fresh_database, measure, percentile, sample
from polyshop import bootstrap
from polyshop.adapters.payments import TestPaymentGateway
from polyshop.adapters.postgres import PostgresGraphStore
from polyshop.domain.recommendations import RecommendationKind
from polyshop.services.catalog import ProductQuery
from polyshop.services.checkout import CheckoutRequest, OrderLine
from polyshop.services.recommendations import RecommendationService
from polyshop.services.seeding import Seeder, SeedPlan
from polyshop.settings import Settings
from polyshop.sync.maintenance import rebuild

# Wide enough for the table's rows when the output is a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 120)
TARGET = 2.0  # p99 at this scale ÷ p99 at the smallest, at most
Read = Callable[[random.Random], Awaitable[object]]
GROUPS = ("reads", "recommendations", "checkout")
# The note on every order the benchmark places: how the seed-size check tells them apart.
BENCH_NOTE = "bench.scale checkout"


def plan_for(orders: int) -> SeedPlan:
    return SeedPlan(shops=3, users=orders, products=max(orders // 10, 60), orders=orders,
                    events=orders * 10, seed=1, months=12)  # fmt: skip


def _orders_in(admin_url: str) -> int:
    """Orders the seed placed (the benchmark's own checkouts left out); -1: no such database."""
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT count(*) FROM orders WHERE notes IS DISTINCT FROM %s", (BENCH_NOTE,)
            ).fetchone()
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
            raise SystemExit(f"{given[0]} ({given[1]}) holds {held} seeded orders, not {orders}")
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


async def _timed(clients: int, seconds: float, read: Read) -> dict[str, Any]:
    await measure(clients, min(seconds, 1.0), read)  # warm-up: pool, plans, caches
    rate, latencies = await measure(clients, seconds, read)
    return {"per_s": rate, "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99), "count": len(latencies),
            "latencies_ms": sample(latencies)}  # fmt: skip


async def graph_built(app: bootstrap.Container, tenant: Any) -> str | None:
    """None when the shop's graph is built; else why not (one line for the report)."""
    if "graph" not in app.relays:
        return "this profile has no graph projector"
    checkpoint = await app.relays["graph"].checkpoint()
    if checkpoint.event_id == 0:
        return "the graph was never rebuilt here (no graph checkpoint)"
    if not isinstance(app.recommendations.store, PostgresGraphStore):
        return None  # Neo4j: a finished rebuild (the checkpoint) is what can be checked here
    # A rebuild that was stopped part-way after an earlier one left its checkpoint.
    async with app.database.unit_of_work(tenant) as uow:
        cursor = await uow.connection.execute(
            "SELECT (SELECT count(*) FROM graph_orders),"
            " (SELECT count(*) FROM orders WHERE notes IS DISTINCT FROM %s)",
            (BENCH_NOTE,),
        )
        graphed, seeded = await cursor.fetchone() or (0, 0)
    if graphed < seeded:
        return f"the graph is incomplete ({graphed:,} of the shop's {seeded:,} orders in it)"
    return None


async def run_scale(
    settings: Settings, clients: int, seconds: float, groups: tuple[str, ...]
) -> dict[str, Any]:
    """Every chosen group's operations at this scale: {"reads": {name: figures}, ...}."""
    async with bootstrap.application(settings, gateway=TestPaymentGateway()) as app:
        async with app.database.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT id FROM tenants ORDER BY created_at, slug LIMIT 1"
            )
            (tenant,) = await cursor.fetchone() or (None,)
        async with app.database.unit_of_work(tenant) as uow:

            async def rows(query: str, *params: object) -> list[Any]:
                cursor = await uow.connection.execute(query, params or None)
                return list(await cursor.fetchall())

            async def ids(query: str) -> list[Any]:
                return [row[0] for row in await rows(query)]

            products = await ids("SELECT id FROM products WHERE status = 'active' LIMIT 500")
            # The reads' customers have seeded orders and none of the benchmark's; the
            # checkouts go to customers without any order, so that what the checkouts add
            # never shows in the histories the reads measure (run after run).
            customers = [row[0] for row in await rows(
                "SELECT DISTINCT o.user_id FROM orders o WHERE o.notes IS DISTINCT FROM %s"
                " AND NOT EXISTS (SELECT 1 FROM orders b WHERE b.user_id = o.user_id"
                "  AND b.notes = %s) ORDER BY o.user_id LIMIT 500", BENCH_NOTE, BENCH_NOTE,
            )]  # fmt: skip
            buyers = [row[0] for row in await rows(
                "SELECT u.id FROM users u WHERE u.role = 'customer' AND u.is_active"
                " AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id"
                "  AND o.notes IS DISTINCT FROM %s) ORDER BY u.id LIMIT 500", BENCH_NOTE,
            )] or customers  # fmt: skip
            categories = await ids("SELECT id FROM categories WHERE parent_id IS NULL")
            popular = await ids(
                "SELECT product_id FROM order_items GROUP BY product_id"
                " ORDER BY count(*) DESC LIMIT 50"
            )
            # What a checkout can buy without running the stock out: a product's variants when
            # it has any, else the product itself, the best-stocked first.
            stocked = await rows(
                "SELECT p.id, v.id FROM products p"
                " LEFT JOIN product_variants v ON v.product_id = p.id AND v.is_active"
                " WHERE p.status = 'active' AND (v.id IS NOT NULL OR NOT EXISTS ("
                "  SELECT 1 FROM product_variants w WHERE w.product_id = p.id))"
                " ORDER BY coalesce(v.inventory_quantity, p.inventory_quantity) DESC LIMIT 500"
            )
        today = datetime.now(UTC).date()
        days = [today - timedelta(days=n) for n in range(1, 60)]

        def day(r: random.Random) -> date:
            return r.choice(days)

        found: dict[str, Any] = {"reads": {}, "skipped": {}}
        if "reads" in groups:
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
            for name, read in reads.items():
                found["reads"][name] = await _timed(clients, seconds, read)
        graph = await graph_built(app, tenant)
        if "recommendations" in groups:
            if graph is not None:
                console.print(f"[yellow]recommendations skipped: {graph}[/]")
                found["skipped"]["recommendations"] = graph
            else:
                # The API's service over the same store, without the Redis cache in front.
                service = RecommendationService(app.recommendations.store)
                for kind in (RecommendationKind.BOUGHT_TOGETHER, RecommendationKind.ALSO_BOUGHT,
                             RecommendationKind.SIMILAR, RecommendationKind.TRENDING):  # fmt: skip
                    found["reads"][f"recommendations {kind.value}"] = await _timed(
                        clients, seconds,
                        (lambda k: lambda r: service.for_product(tenant, r.choice(products), k))(
                            kind
                        ),
                    )  # fmt: skip
                found["reads"]["recommendations for_you"] = await _timed(
                    clients, seconds, lambda r: service.for_customer(tenant, r.choice(customers))
                )
        if "checkout" in groups:

            def order(r: random.Random) -> Awaitable[object]:
                lines = tuple(OrderLine(product, 1, variant)
                              for product, variant in r.sample(stocked, r.randint(1, 3)))  # fmt: skip
                request = CheckoutRequest(customer_id=r.choice(buyers), lines=lines,
                                          shipping_address=ADDRESS, notes=BENCH_NOTE)  # fmt: skip
                return app.checkout.place_order(tenant, request)

            found["reads"]["checkout (place_order)"] = await _timed(clients, seconds, order)
            # The derived stores follow the new orders through their relays, as on a live
            # platform; a graph that is not built is left to its rebuild.
            for relay in app.relays:
                if relay.name == "graph" and graph is not None:
                    continue
                if (await relay.checkpoint()).event_id == 0:
                    continue  # never built here: catching up from the start is not ours to do
                applied = await relay.run_until_idle()
                console.print(f"relay {relay.name}: {applied:,} events of the checkouts applied")
        found["bench_orders"] = len(await _bench_orders(app, tenant))
    return found


async def _bench_orders(app: bootstrap.Container, tenant: Any) -> list[Any]:
    async with app.database.unit_of_work(tenant) as uow:
        cursor = await uow.connection.execute(
            "SELECT id FROM orders WHERE notes = %s", (BENCH_NOTE,)
        )
        return list(await cursor.fetchall())


def combined(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One scale's rounds as one result: each figure the median of the rounds (a burst of load
    from elsewhere during one round does not decide it), the latency samples pooled, and each
    round's own figures kept."""
    last = rounds[-1]
    reads: dict[str, Any] = {}
    for name in last["reads"]:
        each = [r["reads"][name] for r in rounds if name in r["reads"]]
        reads[name] = {
            **{key: statistics.median(e[key] for e in each) for key in ("per_s", "p50_ms", "p99_ms")},
            "count": sum(e["count"] for e in each),
            "latencies_ms": sample([v for e in each for v in e["latencies_ms"]]),
            "rounds": [{key: e[key] for key in ("per_s", "p50_ms", "p99_ms")} for e in each],
        }  # fmt: skip
    return {"reads": reads, "skipped": last["skipped"], "bench_orders": last["bench_orders"]}


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
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every scale this many times, interleaved; each figure is"
                             " the median of the rounds")  # fmt: skip
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"groups to run, comma-separated: {', '.join(GROUPS)}")  # fmt: skip
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    parser.add_argument("--existing", action="append", default=[],
                        help="ORDERS=DATA_DIR[:DATABASE]: a platform seeded elsewhere for that"
                             " scale (reused as it is)")  # fmt: skip
    options = parser.parse_args()
    groups = tuple(g for g in options.only.split(",") if g)
    if not groups or set(groups) - set(GROUPS):
        parser.error(f"--only takes some of {', '.join(GROUPS)}, not {options.only!r}")
    given = existing(options.existing)
    scales = sorted(int(n) for n in options.orders.split(","))
    report: dict[str, Any] = {"clients": options.clients, "seconds": options.seconds,
                              "rounds": options.rounds, "target_p99_ratio": TARGET,
                              "load_average_before": os.getloadavg(), "scales": {}}  # fmt: skip
    prepared = {}
    for orders in scales:
        prepared[orders] = asyncio.run(
            prepare(options.data_dir, orders, options.reseed, given.get(orders))
        )
    rounds: dict[int, list[dict[str, Any]]] = {orders: [] for orders in scales}
    for n in range(options.rounds):
        # Every other round the other way round: on a shared machine the load drifts, and
        # the sizes should meet it alike.
        for orders in scales if n % 2 == 0 else scales[::-1]:
            settings = prepared[orders][0]
            rounds[orders].append(
                asyncio.run(run_scale(settings, options.clients, options.seconds, groups))
            )
    for orders in scales:
        settings, seeded = prepared[orders]
        report["scales"][str(orders)] = {"seed_seconds": seeded,
                                         "database_bytes": database_size(settings),
                                         **combined(rounds[orders])}  # fmt: skip
    smallest = report["scales"][str(scales[0])]["reads"]
    table = Table(
        title=f"hot reads at scale, {options.clients} clients, {options.seconds:g} s each,"
        f" median of {options.rounds} round(s)"
    )
    for column in ("read", "orders", "reads/s", "p50 ms", "p99 ms", f"p99 ÷ at {scales[0]:,}"):
        table.add_column(column, justify="right" if column != "read" else "left")
    names = list(dict.fromkeys(n for o in scales for n in report["scales"][str(o)]["reads"]))
    for name in names:
        for orders in scales:
            r = report["scales"][str(orders)]["reads"].get(name)
            if r is None:
                table.add_row(name, f"{orders:,}", "-", "-", "-", "not run")
                continue
            base = smallest.get(name)
            ratio = f"{r['p99_ms'] / base['p99_ms']:.2f}" if base else "-"
            table.add_row(name, f"{orders:,}", f"{r['per_s']:,.0f}", f"{r['p50_ms']:.2f}",
                          f"{r['p99_ms']:.2f}", ratio)  # fmt: skip
    report["load_average_after"] = os.getloadavg()
    console.print(table)
    console.print(f"load average before {report['load_average_before'][0]:.1f},"
                  f" after {report['load_average_after'][0]:.1f}")  # fmt: skip
    for orders in scales:
        for group, why in report["scales"][str(orders)]["skipped"].items():
            console.print(f"at {orders:,} orders, {group} not measured: {why}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
