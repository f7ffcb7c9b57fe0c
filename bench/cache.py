"""Cached product reads through the service layer vs raw redis-py GETs of the same keys.

    uv run python -m bench.cache [--clients 8] [--seconds 5] [--rounds 3]

Both sides use the same asyncio Redis client against the same embedded Redis, with the same
number of concurrent tasks. The service side is `CatalogReads.product_page` (key building,
hit/miss accounting, JSON decoding of the product document); the raw side is `GET` on the
keys the service wrote. Rounds alternate; the table reports each and the median ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench._common import DATABASE, RESULTS, ROOT, measure, percentile, prepare, sample
from polyshop import bootstrap
from polyshop.adapters.redis import Keys
from polyshop.settings import Settings

console = Console()


async def run(
    settings: Settings, products: int, clients: int, seconds: float, rounds: int
) -> list[tuple[float, float, list[float], list[float]]]:
    urls, tenant_id, _, product_ids = await prepare(settings, products)
    results: list[tuple[float, float, list[float], list[float]]] = []
    async with bootstrap.application(settings, urls) as app:
        for product_id in product_ids:  # fill the cache
            await app.catalog_reads.product_page(tenant_id, product_id)
        keys = [Keys(tenant_id).cache("product", str(p)) for p in product_ids]

        async def raw(rng: random.Random) -> object:
            value = await app.redis.get(rng.choice(keys))
            assert value is not None
            return value

        async def service(rng: random.Random) -> object:
            return await app.catalog_reads.product_page(tenant_id, rng.choice(product_ids))

        with Progress(console=console) as progress:
            task = progress.add_task("cache benchmark rounds", total=rounds * 2)
            for _ in range(rounds):
                raw_rate, raw_latencies = await measure(clients, seconds, raw)
                progress.advance(task)
                service_rate, service_latencies = await measure(clients, seconds, service)
                progress.advance(task)
                results.append((raw_rate, service_rate, raw_latencies, service_latencies))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    options = parser.parse_args()
    settings = Settings(data_dir=options.data_dir, database=DATABASE)  # type: ignore[call-arg]
    results = asyncio.run(run(settings, options.products, options.clients, options.seconds,
                              options.rounds))  # fmt: skip
    table = Table(title=f"cached product page reads, {options.clients} concurrent tasks, "
                        f"{options.seconds:.0f} s per side per round")  # fmt: skip
    for column in ("round", "raw GET/s", "service reads/s", "service ÷ raw"):
        table.add_column(column, justify="right")
    for n, (raw_rate, service_rate, _, _) in enumerate(results, 1):
        table.add_row(
            str(n), f"{raw_rate:,.0f}", f"{service_rate:,.0f}", f"{service_rate / raw_rate:.3f}"
        )
    console.print(table)
    median = statistics.median(s / r for r, s, _, _ in results)
    console.print(f"median ratio {median:.3f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cache.json").write_text(json.dumps({
        "clients": options.clients, "seconds": options.seconds,
        "rounds": [{"raw_get_per_s": r, "service_per_s": s, "ratio": s / r,
                    "raw_p50_ms": percentile(rl, 0.5), "raw_p99_ms": percentile(rl, 0.99),
                    "service_p50_ms": percentile(sl, 0.5), "service_p99_ms": percentile(sl, 0.99),
                    "raw_latencies_ms": sample(rl), "service_latencies_ms": sample(sl)}
                   for r, s, rl, sl in results],
        "median_ratio": median,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
