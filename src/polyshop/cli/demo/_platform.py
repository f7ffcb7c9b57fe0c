"""The demo's platform: three seeded shops (or the ones an earlier run seeded), the API server
as its own process (`polyshop serve`), and the probes that read what the dashboard shows from
the stores (projector lag from the relays' checkpoints, stock and orders from PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from uuid import UUID

import httpx

from polyshop import bootstrap
from polyshop.cli.demo._stats import ProjectorLag, Stock
from polyshop.domain.errors import ConflictError, NotFoundError, StoreUnavailableError
from polyshop.ports import RebuildableProjector
from polyshop.runtime import free_port
from polyshop.services.seeding import Seeder, SeedPlan, ShopGenerator
from polyshop.sync.maintenance import rebuild

# Small enough to seed and project in seconds on two cores, large enough to look like shops:
# a catalog each, customers with months of order history, reviews, storefront sessions.
PLAN = SeedPlan(shops=3, users=300, products=150, orders=900, events=6000, seed=15, months=6)


def shop_slugs(plan: SeedPlan = PLAN) -> list[str]:
    return [ShopGenerator(plan, index).slug for index in range(plan.shops)]


async def existing_shops(container: bootstrap.Container, slugs: list[str]) -> list[UUID]:
    """The ids of the demo's shops when an earlier run seeded all of them; [] when none
    exists; a conflict when only some do (another platform took their names)."""
    found: list[UUID] = []
    for slug in slugs:
        try:
            found.append((await container.tenants.get(slug)).id)
        except NotFoundError:
            continue
    if found and len(found) != len(slugs):
        raise ConflictError(
            f"some of the demo's shops ({', '.join(slugs)}) exist and some do not:"
            " run the demo on another POLYSHOP_DATABASE"
        )
    return found


async def seed(
    urls: bootstrap.StoreUrls, progress: Callable[[str, int, int], None]
) -> list[tuple[UUID, str]]:
    if urls.postgres_admin is None:
        raise StoreUnavailableError(
            "postgres", "the demo seeds with COPY as the owner: set POLYSHOP_POSTGRES_ADMIN_URL"
        )
    report = await Seeder(urls.postgres_admin).run(PLAN, progress)
    return report.tenants


async def rebuild_derived(
    container: bootstrap.Container, shops: list[UUID], progress: Callable[[str, int, int], None]
) -> dict[str, int]:
    """Every rebuildable projector's store built again from PostgreSQL (the seed writes
    tables with COPY, not through the services that would announce each change)."""
    written: dict[str, int] = {}
    for relay in container.relays:
        if not isinstance(relay.projector, RebuildableProjector):
            continue

        def advance(done: int, total: int, name: str = relay.name) -> None:
            progress(name, done, total)

        written[relay.name] = await rebuild(relay, advance, tenants=shops)
    return written


async def projector_lag(container: bootstrap.Container) -> dict[str, ProjectorLag]:
    """Events each projector has not applied yet and the age of the oldest, from its
    checkpoint (the relays themselves run in the API server)."""
    lag: dict[str, ProjectorLag] = {}
    now = time.time()
    for relay in container.relays:
        waiting, oldest = await relay.pending()
        age = max(0.0, now - oldest.timestamp()) if oldest is not None else None
        lag[relay.name] = ProjectorLag(waiting, age)
    return lag


async def stock(container: bootstrap.Container, shops: list[UUID], since: datetime) -> Stock:
    """Units on hand, units held by orders awaiting payment, and orders confirmed since the
    demo began, over the demo's shops (each read under its own tenant)."""
    left = reserved = confirmed = 0
    for tenant_id in shops:
        async with container.database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT (SELECT coalesce(sum(inventory_quantity), 0) FROM products)"
                " + (SELECT coalesce(sum(inventory_quantity), 0) FROM product_variants),"
                " (SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o"
                "   ON o.tenant_id = i.tenant_id AND o.id = i.order_id WHERE o.status = 'pending'),"
                " (SELECT count(*) FROM orders WHERE created_at >= %s AND status = 'confirmed')",
                (since,),
            )
            row = await cursor.fetchone()
        assert row is not None
        left, reserved, confirmed = left + int(row[0]), reserved + int(row[1]), confirmed + row[2]
    return Stock(left, reserved, confirmed)


class ApiProcess:
    """`polyshop serve` on a free loopback port, its output in a log file. It gets its own
    session so a Ctrl-C at the terminal reaches the demo, which then stops the server after
    its summary, rather than both at once."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env, "POLYSHOP_API_HOST": "127.0.0.1"}
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def _launch(self) -> subprocess.Popen[bytes]:
        self._log.parent.mkdir(parents=True, exist_ok=True)
        with self._log.open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "polyshop", "serve", "--port", str(self.port)],
                env=self._env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

    async def start(self, within_seconds: float = 120.0) -> None:
        """Launch the server and wait until it answers (or say why it did not)."""
        self._process = self._launch()
        deadline = time.monotonic() + within_seconds
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise StoreUnavailableError("api", f"polyshop serve exited: {self.last_line()}")
                try:
                    if (await http.get("/health/live")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        self.stop()
        raise StoreUnavailableError("api", f"polyshop serve did not answer: {self.last_line()}")

    def last_line(self) -> str:
        text = self._log.read_text(errors="replace") if self._log.exists() else ""
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1].strip() if lines else f"no output (log: {self._log})"

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
