"""What the benchmarks share: where results go, the benchmark database and its shop, the
measuring loop and percentiles, and the test servers they borrow (FerretDB, the API server)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from tests.support.api_server import ApiServer
from tests.support.ferretdb import FerretDB
from tests.support.tools import CACHE as TOOL_CACHE  # the project's cache of built tools

from polyshop import bootstrap
from polyshop.adapters.postgres import drop_database, provision, upgrade
from polyshop.services.catalog import ProductDraft
from polyshop.settings import Settings

__all__ = [
    "ADDRESS", "CUSTOMERS", "DATABASE", "RESULTS", "ROOT", "TOOL_CACHE", "ApiServer", "FerretDB",
    "measure", "percentile", "prepare",
]  # fmt: skip

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATABASE = "polyshop_bench"
CUSTOMERS = 1000
ADDRESS = {"street": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by rank (nearest rank below), NaN for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def sample(values: list[float], size: int = 2000) -> list[float]:
    """At most `size` values spread evenly over the sorted latencies: the distribution's shape
    for charts (bench.suite), in a JSON file of bounded size."""
    ordered = sorted(values)
    if len(ordered) <= size:
        return [round(v, 3) for v in ordered]
    step = (len(ordered) - 1) / (size - 1)
    return [round(ordered[round(i * step)], 3) for i in range(size)]


def fresh_database(settings: Settings) -> bootstrap.StoreUrls:
    """The benchmark's own database, dropped, provisioned (every role) and migrated afresh."""
    urls = bootstrap.store_urls(settings)
    assert urls.postgres_admin is not None
    drop_database(urls.postgres_admin)
    provision(
        urls.postgres_admin, urls.postgres, relay_url=urls.postgres_relay,
        platform_url=urls.postgres_platform,
    )  # fmt: skip
    upgrade(urls.postgres_admin)
    return urls


async def prepare(
    settings: Settings, product_count: int
) -> tuple[bootstrap.StoreUrls, UUID, list[UUID], list[UUID]]:
    urls = fresh_database(settings)
    async with bootstrap.application(settings, urls) as app:
        tenant = await app.tenants.create("bench", "Bench Shop")
        await app.tenants.configure(
            tenant.id,
            {
                "tax": {"default_rate": "0.08"},
                "shipping": {"standard": {"price": "5.00", "free_over": "75.00"}},
            },
        )
        vendor = await app.catalog.create_vendor(tenant.id, "Vendor")
        category = await app.catalog.create_category(tenant.id, "All")
        # Real traffic comes from many customers; one customer placing every order would make
        # its row the hottest lock of the benchmark. Inserted directly: registration (argon2)
        # is not what this measures.
        async with app.database.unit_of_work(tenant.id) as uow:
            cursor = await uow.connection.execute(
                "INSERT INTO users (tenant_id, email, password_hash, first_name, last_name)"
                " SELECT %s, 'bench' || n || '@example.com', 'not-a-login', 'Bench', n::text"
                " FROM generate_series(1, %s) AS n RETURNING id",
                (tenant.id, CUSTOMERS),
            )
            customers = [row[0] for row in await cursor.fetchall()]
            await uow.commit()
        products = [
            await app.catalog.create_product(
                tenant.id,
                ProductDraft(
                    name=f"Product {n}",
                    sku=f"P-{n}",
                    price=f"{5 + n}.99",
                    category_id=category.id,
                    vendor_id=vendor,
                    status="active",
                    initial_stock=10_000_000,
                ),
            )
            for n in range(product_count)
        ]
    # Give the planner statistics of tables that have rows, as a shop in production has.
    with psycopg.connect(urls.postgres_admin, autocommit=True) as admin:
        admin.execute("ANALYZE")
    return urls, tenant.id, customers, products


async def measure(
    clients: int, seconds: float, read: Callable[[random.Random], Awaitable[Any]]
) -> tuple[float, list[float]]:
    """`clients` concurrent tasks calling `read` for `seconds`: (calls per second, latencies
    in ms)."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await read(rng)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return len(latencies) / (time.perf_counter() - started), latencies
