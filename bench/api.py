"""HTTP benchmark: hello-world route vs product page vs order creation, one server, one run.

    uv run python -m bench.api --seconds 10 --rounds 3

Starts `polyshop serve` (uvicorn, uvloop, httptools, one worker) on the embedded stores and
loads it with `hey` (built from the Go module proxy once): the same server settings, client
count and duration for each route in every round. The hello-world route is `/health/live`
(no store touched); the product page is `/products/{id}` as a shopper reads it (tenant
resolution, Redis cache, ETag); order creation is `POST /orders` with a bearer session
(session check, rate limiter, checkout transaction). Target: the product page at 70% or more
of the hello-world rate.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from tests.support.tools import go_install

from bench._common import ADDRESS, DATABASE, RESULTS, ROOT, ApiServer, percentile, prepare, sample
from bench._common import TOOL_CACHE as CACHE
from polyshop import bootstrap
from polyshop.settings import Settings

HEY = "github.com/rakyll/hey@v0.1.4"
TARGET = 0.70
console = Console()


def ensure_hey() -> Path:
    """The `hey` load generator, built once into the user's cache directory."""
    return go_install(HEY, CACHE / "hey-v0.1.4" / "hey", quiet=True)


@dataclass
class Load:
    route: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)


@dataclass
class Target:
    route: str
    url: str
    headers: dict[str, str]
    body: str | None = None


def run_load(hey: Path, targets: list[Target], connections: int, seconds: float) -> Load:
    """Several `hey` processes at once (one per target body), `connections` split between
    them; every request's latency comes back in hey's CSV output."""
    per = max(1, connections // len(targets))
    processes = []
    with tempfile.TemporaryDirectory() as scratch:
        for n, target in enumerate(targets):
            args = [
                str(hey),
                "-z",
                f"{seconds}s",
                "-c",
                str(per),
                "-o",
                "csv",
                "-disable-compression",
            ]
            for name, value in target.headers.items():
                args += ["-H", f"{name}: {value}"]
            if target.body is not None:
                body = Path(scratch) / f"body-{n}.json"
                body.write_text(target.body)
                args += ["-m", "POST", "-T", "application/json", "-D", str(body)]
            processes.append(
                subprocess.Popen([*args, target.url], stdout=subprocess.PIPE, text=True)
            )
        started = time.perf_counter()
        outputs = [process.communicate()[0] for process in processes]
        elapsed = max(seconds, time.perf_counter() - started - 0.05)
    latencies: list[float] = []
    errors = 0
    for output in outputs:
        for row in csv.DictReader(io.StringIO(output)):
            latencies.append(float(row["response-time"]) * 1000)
            if not row["status-code"].startswith("2"):
                errors += 1
    return Load(targets[0].route, len(latencies), errors, min(elapsed, seconds), latencies)


async def sessions(settings: Settings, urls: bootstrap.StoreUrls, tenant_id: UUID,
                   customers: list[UUID], count: int) -> list[str]:  # fmt: skip
    async with bootstrap.application(settings, urls) as app:
        return [
            (
                await app.sessions.create(tenant_id, customer, f"bench{n}@example.com", "customer")
            ).token
            for n, customer in enumerate(customers[:count])
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--generators", type=int, default=8, help="hey processes per route")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--local-seconds",
        type=float,
        default=None,
        help="POLYSHOP_PRODUCT_PAGE_LOCAL_SECONDS for the server (0: Redis only)",
    )
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--products", type=int, default=100, help="catalog size")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    options = parser.parse_args()
    settings = Settings(data_dir=options.data_dir, database=DATABASE)  # type: ignore[call-arg]

    with console.status("building hey, starting the stores and preparing the shop ..."):
        hey = ensure_hey()
        urls, tenant_id, customers, products = asyncio.run(prepare(settings, options.products))
        tokens = asyncio.run(sessions(settings, urls, tenant_id, customers, options.generators))
    env = {
        "POLYSHOP_DATA_DIR": str(options.data_dir), "POLYSHOP_DATABASE": DATABASE,
        # Order creation is limited like any change; the benchmark must not hit the limit.
        "POLYSHOP_RATE_LIMIT_REQUESTS": "1000000000",
        # The relay would share the worker's core; in this run it is not what is measured.
        "POLYSHOP_API_RUN_RELAY": "false",
        "POLYSHOP_POOL_MIN_SIZE": "8", "POLYSHOP_POOL_MAX_SIZE": "8",
    }  # fmt: skip
    if options.local_seconds is not None:
        env["POLYSHOP_PRODUCT_PAGE_LOCAL_SECONDS"] = str(options.local_seconds)
    rounds: list[dict[str, Load]] = []
    with ApiServer(env, workers=options.workers) as server:
        tenant = {"X-Tenant": "bench"}
        generators = range(options.generators)
        pages = [f"{server.url}/products/{products[n]}" for n in generators]
        for page in pages:  # fill the caches
            assert httpx.get(page, headers=tenant).status_code == 200
        # Every route gets the same number of hey processes and connections; each page or
        # order body is its own product, so orders do not queue on one product's stock row.
        routes = {
            "hello world": [Target("hello world", f"{server.url}/health/live", {}) for _ in generators],
            "product page": [Target("product page", page, tenant) for page in pages],
            "order creation": [
                Target("order creation", f"{server.url}/orders",
                       {**tenant, "Authorization": f"Bearer {tokens[n]}"},
                       json.dumps({"lines": [{"product_id": str(products[len(pages) + n]),
                                              "quantity": 1}],
                                   "shipping_address": ADDRESS}))
                for n in generators
            ],
        }  # fmt: skip
        for targets in routes.values():  # warm up: connections, pools, caches, plans
            run_load(hey, targets, options.connections, 1)
        with Progress(console=console) as progress:
            task = progress.add_task("benchmark rounds", total=options.rounds * len(routes))
            for _ in range(options.rounds):
                measured = {}
                for name, targets in routes.items():
                    measured[name] = run_load(hey, targets, options.connections, options.seconds)
                    progress.advance(task)
                rounds.append(measured)

    local = "default" if options.local_seconds is None else f"{options.local_seconds:g} s"
    table = Table(title=f"HTTP API, {options.workers} uvicorn worker(s), {options.connections} "
                        f"connections from {options.generators} hey processes, "
                        f"{options.seconds:.0f} s per route per round, product page local tier "
                        f"{local}")  # fmt: skip
    for column in ("round", "route", "requests/s", "p50 ms", "p99 ms", "non-2xx", "÷ hello world"):
        table.add_column(column, justify="right")
    ratios = []
    for n, measured in enumerate(rounds, 1):
        hello = measured["hello world"].rate
        for name, load in measured.items():
            table.add_row(str(n), name, f"{load.rate:,.0f}", f"{load.percentile(0.5):.2f}",
                          f"{load.percentile(0.99):.2f}", str(load.errors),
                          f"{load.rate / hello:.3f}")  # fmt: skip
        ratios.append(measured["product page"].rate / hello)
    console.print(table)
    median = statistics.median(ratios)
    verdict = "meets" if median >= TARGET else "misses"
    console.print(
        f"median ratio product page ÷ hello world {median:.3f}: {verdict} the target of {TARGET}"
    )

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps({
        "connections": options.connections, "seconds": options.seconds,
        "generators": options.generators, "local_seconds": options.local_seconds,
        "workers": options.workers,
        "rounds": [{name: {"per_s": load.rate, "p50_ms": load.percentile(0.5),
                           "p99_ms": load.percentile(0.99), "errors": load.errors,
                           "latencies_ms": sample(load.latencies_ms)}
                    for name, load in measured.items()} for measured in rounds],
        "median_ratio": median,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
