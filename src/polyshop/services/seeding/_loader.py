"""The loading process's side: `Seeder` starts the generator process, loads what it sends with
COPY, one transaction per message, and reports progress and what it wrote."""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from polyshop.adapters.postgres import BulkLoader
from polyshop.domain.errors import ConflictError
from polyshop.services.seeding._customers import password_hash
from polyshop.services.seeding._orders import FIRST_ORDER_NUMBER
from polyshop.services.seeding._pipeline import (
    CopyRows,
    GeneratorFailed,
    Message,
    NewShop,
    ShopStock,
    run_generator,
)
from polyshop.services.seeding._plan import SeedPlan

# stage name, done, total
SeedProgress = Callable[[str, int, int], None]


@dataclass(slots=True)
class SeedReport:
    tenants: list[tuple[UUID, str]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def count(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


class Seeder:
    """Loads a plan. A generator process makes the rows and formats them as COPY text while
    this process sends the previous transaction's rows and PostgreSQL checks and stores them,
    so the generator, the loader and the server work at the same time instead of in turn (a
    thread would not do: the loader would wait for the generator's GIL at every round trip).
    The queue between them is bounded: memory stays a few transactions' worth."""

    def __init__(self, admin_url: str, *, queued: int = 4) -> None:
        self._admin_url = admin_url
        self._queued = queued

    async def run(self, plan: SeedPlan, progress: SeedProgress | None = None) -> SeedReport:
        report = SeedReport()
        hashed = password_hash(plan.seed)
        done = {"catalog": 0, "users": 0, "orders": 0, "events": 0}
        context = multiprocessing.get_context("spawn")  # no fork of a running event loop
        items = context.Queue(maxsize=self._queued)
        stop = context.Event()
        producer = context.Process(target=run_generator, args=(plan, hashed, items, stop),
                                   name="polyshop-seed-generator", daemon=True)  # fmt: skip
        producer.start()
        try:
            async with BulkLoader(self._admin_url) as loader:
                while (item := await asyncio.to_thread(self._next, items, producer)) is not None:
                    await self._consume(loader, item, report)
                    if isinstance(item, CopyRows):
                        done[item.stage] += item.done
                        if progress:
                            progress(item.stage, done[item.stage], item.total)
                await loader.try_execute("ANALYZE", ())
        finally:
            stop.set()
            await asyncio.to_thread(producer.join, 10)
            if producer.is_alive():
                producer.terminate()
            items.close()
        return report

    @staticmethod
    def _next(items: Any, producer: Any) -> Message:
        """The next message, or an error if the generator process died without a word."""
        while True:
            try:
                item: Message = items.get(timeout=1)
            except queue.Empty:
                if not producer.is_alive():
                    return GeneratorFailed(f"the process ended (exit code {producer.exitcode})")
                continue
            return item

    @staticmethod
    async def _consume(loader: BulkLoader, item: Message, report: SeedReport) -> None:
        if isinstance(item, GeneratorFailed):
            raise RuntimeError(f"the seed generator failed: {item.error}")  # noqa: TRY004
        if isinstance(item, NewShop):
            async with loader.transaction(None) as tx:
                taken = await tx.execute("SELECT 1 FROM tenants WHERE slug = %s", (item.slug,))
            if taken:
                raise ConflictError(
                    f"a shop {item.slug!r} already exists: seed an empty database, or pass"
                    " another --seed"
                )
            # Months before today's partitions: events land in their own month, not in
            # the default partition (fails harmlessly when that one already holds rows).
            await loader.try_execute(
                "SELECT analytics_ensure_partitions(%s, %s)",
                (item.start - timedelta(days=31), item.months + 2),
            )
            report.tenants.append((item.tenant_id, item.slug))
        elif isinstance(item, CopyRows):
            async with loader.transaction(item.tenant_id) as tx:
                for table, columns, data, rows in item.tables:
                    await tx.copy_text(table, columns, data)
                    report.count(table, rows)
        elif isinstance(item, ShopStock):
            await Seeder._finish(loader, item)

    @staticmethod
    async def _finish(loader: BulkLoader, item: ShopStock) -> None:
        async with loader.transaction(item.tenant_id) as tx:
            await tx.execute(
                "UPDATE products p SET inventory_quantity = s.q"
                " FROM unnest(%s::uuid[], %s::int[]) AS s(id, q)"
                " WHERE p.tenant_id = %s AND p.id = s.id AND s.q <> 0",
                ([p for p, _ in item.products], [q for _, q in item.products], item.tenant_id),
            )
            await tx.execute(
                "UPDATE product_variants v SET inventory_quantity = s.q"
                " FROM unnest(%s::uuid[], %s::int[]) AS s(id, q)"
                " WHERE v.tenant_id = %s AND v.id = s.id",
                ([v for v, _ in item.variants], [q for _, q in item.variants], item.tenant_id),
            )
            # Checkouts after the seed continue after the seeded order numbers.
            if item.orders:
                await tx.execute(
                    "SELECT setval(format('public.%%I', order_number_sequence(%s)), %s)",
                    (item.tenant_id, FIRST_ORDER_NUMBER - 1 + item.orders),
                )
