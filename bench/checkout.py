"""Checkout throughput against two baselines, on the same embedded PostgreSQL, in one run.

    uv run python -m bench.checkout [--clients 8] [--seconds 10] [--rounds 2]

Every side runs with the same number of concurrent clients against the same server (embedded
profile, durable settings: fsync and synchronous_commit on):

- pgbench TPC-B (the classic yardstick; target: orders/s at least a third of its TPS);
- pgbench running `order_rows_script`: exactly the rows one order writes, in the same two
  transactions (reserve: lock, order, 3 items, 3 stock updates, 3 ledger rows, pending payment,
  history, outbox; confirm: lock, payment, order, history, outbox), as plain SQL with pgbench
  variables, as the application role under row-level security. That is the physical limit of
  this schema on this machine; target: orders/s at least half of its TPS;
- our side: 3-line orders through `CheckoutService.place_order` (the full path: locks,
  pricing, the reservation, the gateway charge with no lock held, the confirmation). The
  gateway is the in-memory test gateway, so the figure is ours, not a gateway's.

Rounds alternate between the sides so that a noisy neighbour hurts them alike; the table
reports every round and the median ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import string
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench._common import (
    ADDRESS,
    CUSTOMERS,
    DATABASE,
    RESULTS,
    ROOT,
    percentile,
    prepare,
    sample,
)
from polyshop import bootstrap
from polyshop.adapters.payments import TestPaymentGateway
from polyshop.adapters.postgres import drop_database
from polyshop.runtime import postgres_binaries as binaries
from polyshop.services.checkout import CheckoutRequest, OrderLine
from polyshop.settings import Settings

console = Console()


@dataclass
class Round:
    kind: str
    operations: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.operations / self.seconds

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


async def run_orders(
    settings: Settings, urls: bootstrap.StoreUrls, tenant_id: UUID, customers: list[UUID],
    products: list[UUID], clients: int, seconds: float,
) -> Round:  # fmt: skip
    async with bootstrap.application(settings, urls, gateway=TestPaymentGateway()) as app:
        latencies: list[float] = []
        rng = random.Random(7)

        def request() -> CheckoutRequest:
            return CheckoutRequest(
                customer_id=rng.choice(customers),
                lines=tuple(OrderLine(p, rng.randint(1, 3)) for p in rng.sample(products, 3)),
                shipping_address=ADDRESS,
            )

        # Warm up every pooled connection (prepared statements, caches) before the clock starts.
        await asyncio.gather(
            *(app.checkout.place_order(tenant_id, request()) for _ in range(clients * 10))
        )
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < deadline:
                order = request()
                started = time.perf_counter()
                await app.checkout.place_order(tenant_id, order)
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return Round("orders", len(latencies), elapsed, latencies)


def pgbench_env(urls: bootstrap.StoreUrls) -> tuple[list[str], dict[str, str]]:
    assert urls.postgres_admin is not None
    params = conninfo_to_dict(make_conninfo(urls.postgres_admin, dbname="pgbench"))
    env = {**os.environ, "PGPASSWORD": str(params["password"])}
    args = ["-h", str(params["host"]), "-p", str(params["port"]), "-U", str(params["user"])]
    return args, env


def pgbench_init(urls: bootstrap.StoreUrls, scale: int) -> None:
    assert urls.postgres_admin is not None
    maintenance = make_conninfo(urls.postgres_admin, dbname="pgbench")
    drop_database(maintenance)
    args, env = pgbench_env(urls)
    subprocess.run([str(binaries() / "createdb"), *args, "pgbench"], env=env, check=True)
    subprocess.run([str(binaries() / "pgbench"), *args, "-i", "-q", "-s", str(scale), "pgbench"],
                   env=env, check=True, capture_output=True)  # fmt: skip


def pgbench_run(urls: bootstrap.StoreUrls, clients: int, seconds: float) -> Round:
    args, env = pgbench_env(urls)
    result = subprocess.run(
        [str(binaries() / "pgbench"), *args, "-c", str(clients), "-j", str(min(clients, 2)),
         "-T", str(int(seconds)), "pgbench"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    tps = float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    average = float(re.search(r"latency average = ([\d.]+) ms", result.stdout).group(1))  # type: ignore[union-attr]
    transactions = int(
        re.search(r"number of transactions actually processed: (\d+)", result.stdout).group(1)
    )  # type: ignore[union-attr]
    return Round("pgbench", transactions, transactions / tps, [average])


def order_rows_script(tenant_id: UUID, products: int, customers: int) -> str:
    """One order's rows as the checkout writes them, for pgbench (bench/order_rows.sql)."""
    lines = (
        "(VALUES ('P-' || :p1::int, :q1::int), ('P-' || :p2::int, :q2::int),"
        " ('P-' || :p3::int, :q3::int)) AS l(sku, q)"
    )
    template = string.Template((ROOT / "bench" / "order_rows.sql").read_text())
    return template.substitute(
        tenant=str(tenant_id), address=json.dumps(ADDRESS), products=products,
        third=products // 3, customers=customers, lines=lines,
    )  # fmt: skip


def order_rows_run(urls: bootstrap.StoreUrls, script: Path, clients: int, seconds: float) -> Round:
    """pgbench with the order-rows script, as the application role (row-level security on)."""
    # pgbench's variables travel as parameters (prepared mode), so the script casts them.
    params = conninfo_to_dict(urls.postgres)
    env = {**os.environ, "PGPASSWORD": str(params["password"])}
    args = ["-h", str(params["host"]), "-p", str(params["port"]), "-U", str(params["user"])]
    result = subprocess.run(
        # Prepared statements, as psycopg uses them for the checkout's repeated statements.
        [str(binaries() / "pgbench"), *args, "-n", "-M", "prepared", "-f", str(script),
         "-c", str(clients),
         "-j", str(min(clients, 2)), "-T", str(int(seconds)), str(params["dbname"])],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    tps = float(re.search(r"tps = ([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    average = float(re.search(r"latency average = ([\d.]+) ms", result.stdout).group(1))  # type: ignore[union-attr]
    transactions = int(
        re.search(r"number of transactions actually processed: (\d+)", result.stdout).group(1)
    )  # type: ignore[union-attr]
    return Round("order rows", transactions, transactions / tps, [average])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--products", type=int, default=1000, help="catalog size")
    parser.add_argument("--scale", type=int, default=None, help="pgbench scale (default: clients)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    options = parser.parse_args()
    settings = Settings(  # type: ignore[call-arg]
        data_dir=options.data_dir, database=DATABASE, pool_min_size=options.clients,
        pool_max_size=options.clients,
    )  # fmt: skip

    with console.status("starting the embedded stores and preparing the shop ..."):
        urls, tenant_id, customers, products = asyncio.run(prepare(settings, options.products))
        scale = options.scale or options.clients
        pgbench_init(urls, scale)
        # A first batch of orders, then fresh statistics, so no plan is made for empty tables.
        asyncio.run(run_orders(settings, urls, tenant_id, customers, products, options.clients, 3))
        with psycopg.connect(urls.postgres_admin, autocommit=True) as admin:
            admin.execute("ANALYZE")

    script = options.data_dir / "order-rows.sql"
    script.write_text(order_rows_script(tenant_id, options.products, CUSTOMERS))
    rounds: list[tuple[Round, Round, Round]] = []
    with Progress(console=console) as progress:
        task = progress.add_task("benchmark rounds", total=options.rounds * 3)
        for _ in range(options.rounds):
            baseline = pgbench_run(urls, options.clients, options.seconds)
            progress.advance(task)
            rows = order_rows_run(urls, script, options.clients, options.seconds)
            progress.advance(task)
            ours = asyncio.run(run_orders(settings, urls, tenant_id, customers, products,
                                          options.clients, options.seconds))  # fmt: skip
            progress.advance(task)
            rounds.append((baseline, rows, ours))

    table = Table(title=f"checkout ({options.products} products) vs pgbench TPC-B (scale {scale}) "
                        f"and one order's rows, {options.clients} clients, "
                        f"{options.seconds:.0f} s per side per round")  # fmt: skip
    for column in ("round", "pgbench TPS", "order-rows TPS", "orders/s", "order p50 ms",
                   "order p99 ms", "÷ pgbench TPS", "÷ order-rows TPS"):  # fmt: skip
        table.add_column(column, justify="right")
    ratios, row_ratios = [], []
    for n, (baseline, rows, ours) in enumerate(rounds, 1):
        ratio, row_ratio = ours.rate / baseline.rate, ours.rate / rows.rate
        ratios.append(ratio)
        row_ratios.append(row_ratio)
        table.add_row(str(n), f"{baseline.rate:,.0f}", f"{rows.rate:,.0f}", f"{ours.rate:,.0f}",
                      f"{ours.percentile(0.5):.2f}", f"{ours.percentile(0.99):.2f}",
                      f"{ratio:.3f}", f"{row_ratio:.3f}")  # fmt: skip
    console.print(table)
    median, row_median = statistics.median(ratios), statistics.median(row_ratios)
    console.print(
        f"median ratio to pgbench {median:.3f}: "
        f"{'meets' if median >= 1 / 3 else 'misses'} the target of 0.333"
    )
    console.print(
        f"median ratio to the order-rows script {row_median:.3f}: "
        f"{'meets' if row_median >= 0.5 else 'misses'} the target of 0.5"
    )

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "checkout.json").write_text(json.dumps({
        "clients": options.clients, "seconds": options.seconds, "pgbench_scale": scale,
        "products": options.products,
        "rounds": [{"pgbench_tps": b.rate, "order_rows_tps": r.rate, "orders_per_s": o.rate,
                    "p50_ms": o.percentile(0.5), "p99_ms": o.percentile(0.99),
                    "ratio": o.rate / b.rate, "order_rows_ratio": o.rate / r.rate,
                    "latencies_ms": sample(o.latencies_ms)}
                   for b, r, o in rounds],
        "median_ratio": median, "median_order_rows_ratio": row_median,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
