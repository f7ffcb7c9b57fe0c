"""`polyshop seed`: generate a realistic platform with COPY, then rebuild the derived stores."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from polyshop import bootstrap
from polyshop.cli._common import console, settings
from polyshop.cli._stores import _up
from polyshop.domain.errors import StoreUnavailableError, ValidationError
from polyshop.ports import RebuildableProjector
from polyshop.services.seeding import SEED_PASSWORD, Seeder, SeedPlan, SeedReport
from polyshop.sync.maintenance import rebuild

_STAGES = {"catalog": "catalogs (products)", "users": "customers", "orders": "orders",
           "events": "storefront events"}  # fmt: skip


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console,
    )  # fmt: skip


def seed(
    shops: Annotated[int, typer.Option(min=1, max=1000, help="Shops (tenants)")] = 3,
    users: Annotated[int, typer.Option(min=0, help="Customers, across the shops")] = 1000,
    products: Annotated[int, typer.Option(min=1, help="Products, across the shops")] = 200,
    orders: Annotated[int, typer.Option(min=0, help="Orders, across the shops")] = 2000,
    events: Annotated[int, typer.Option(min=0, help="Storefront events (analytics)")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed value: the same seed gives the same data")] = 1,
    months: Annotated[int, typer.Option(min=1, max=13, help="Months of order history")] = 12,
    until: Annotated[
        str | None, typer.Option(help="Day the history ends (YYYY-MM-DD; default today, UTC)")
    ] = None,
    rebuild_stores: Annotated[
        bool, typer.Option("--rebuild/--no-rebuild", help="Rebuild the derived stores after")
    ] = True,
) -> None:
    """Generate shops, catalogs, customers, orders, reviews and storefront events (COPY), then
    rebuild every derived store through its projector."""
    if orders and not users:
        raise ValidationError("orders need customers: pass --users > 0", field="users")
    try:
        end = date.fromisoformat(until) if until else None
    except ValueError:
        raise ValidationError(f"--until must be YYYY-MM-DD, not {until!r}", field="until") from None
    plan = SeedPlan(shops=shops, users=users, products=products, orders=orders, events=events,
                    seed=seed, months=months, **({"until": end} if end else {}))  # fmt: skip
    urls, _, _ = _up()
    if urls.postgres_admin is None:
        raise StoreUnavailableError(
            "postgres", "seeding loads with COPY as the owner: set POLYSHOP_POSTGRES_ADMIN_URL"
        )
    admin_url = urls.postgres_admin
    began = time.perf_counter()
    with _progress() as progress:
        tasks: dict[str, TaskID] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(_STAGES[stage], total=total)
            progress.update(tasks[stage], completed=done, total=total)

        report = asyncio.run(Seeder(admin_url).run(plan, advance))
    loaded = time.perf_counter() - began
    console.print(_report_table(report, loaded))
    rebuilt = 0.0
    if rebuild_stores:
        start = time.perf_counter()
        asyncio.run(_rebuild_all(urls))
        rebuilt = time.perf_counter() - start
    console.print(
        f"seeded {len(report.tenants)} shops in {loaded:.1f} s"
        + (f", derived stores rebuilt in {rebuilt:.1f} s" if rebuild_stores else "")
    )
    for tenant_id, slug in report.tenants:
        console.print(f"  {slug}  (id {tenant_id})  admin@{slug}.example")
    console.print(f"every seeded account signs in with the password {SEED_PASSWORD!r}")


async def _rebuild_all(urls: bootstrap.StoreUrls) -> None:
    async with bootstrap.application(settings(), urls) as container:
        with _progress() as progress:
            for relay in container.relays:
                if not isinstance(relay.projector, RebuildableProjector):
                    continue
                task = progress.add_task(f"rebuilding {relay.name}", total=None)

                def advance(done: int, total: int, task: TaskID = task) -> None:
                    progress.update(task, completed=done, total=total)

                written = await rebuild(relay, advance)
                progress.update(task, description=f"{relay.name}: {written} written")


def _report_table(report: SeedReport, seconds: float) -> Table:
    table = Table(title=f"rows loaded in {seconds:.1f} s", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in sorted(report.rows.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f"{count:,}")
    table.caption = f"{sum(report.rows.values()):,} rows"
    return table


def register(app: typer.Typer) -> None:
    app.command()(seed)
