"""`polyshop sync ...`: the outbox relay and the health of the derived stores."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import typer
from rich.progress import Progress
from rich.table import Table

from polyshop import bootstrap
from polyshop.cli._common import console, settings
from polyshop.domain.errors import NotFoundError
from polyshop.ports import GRAPH_LISTED, Drift, list_label
from polyshop.sync import Relay
from polyshop.sync.maintenance import rebuild, verify

app = typer.Typer(help="Keep derived stores in step with PostgreSQL.", no_args_is_help=True)


def _relay(container: bootstrap.Container, name: str) -> Relay:
    bootstrap.relay_url(container.urls)  # rebuild and verify act as the relay
    if name not in container.relays:
        known = ", ".join(container.relays.names)
        raise NotFoundError(f"no projector {name!r} (known: {known})")
    return container.relays[name]


_TENANT = typer.Option(
    "--tenant", help="only this shop (its slug; repeatable); default: every shop"
)


async def _tenants(container: bootstrap.Container, slugs: list[str] | None) -> list[UUID] | None:
    if not slugs:
        return None
    async with container.database.unit_of_work() as uow:
        cursor = await uow.connection.execute(
            "SELECT slug, id FROM tenants WHERE slug = ANY(%s)", (slugs,)
        )
        found = dict(await cursor.fetchall())
    unknown = [s for s in slugs if s not in found]
    if unknown:
        raise NotFoundError(f"no shop {unknown[0]!r}")
    return [found[s] for s in slugs]


@app.command("run")
def run_command(
    until_idle: Annotated[bool, typer.Option(help="stop once every event is applied")] = False,
) -> None:
    """Run the relay: apply outbox events to every projector until stopped (Ctrl-C)."""

    async def work() -> None:
        async with bootstrap.application(settings()) as container:
            bootstrap.relay_url(container.urls)  # the relay's own login, or one line
            if until_idle:
                applied = await container.relays.run_until_idle()
                for name, count in applied.items():
                    console.print(f"{name}: applied {count} events; caught up")
                return
            # As the API server does after its startup: what startup built lives as long as
            # the process, and frozen, the cyclic collections the projectors' batches cause no
            # longer walk it.
            gc.collect()
            gc.freeze()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            console.print("relay running; Ctrl-C stops it")
            await container.relays.run(bootstrap.relay_url(container.urls), stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(work())


@app.command("status")
def status_command() -> None:
    """Lag per projector: position, events waiting, the oldest one's age, parked events."""

    async def read() -> list[tuple[str, ...]]:
        async with bootstrap.application(settings()) as container:
            bootstrap.relay_url(container.urls)
            async with container.relay_database.unit_of_work() as uow:
                cursor = await uow.connection.execute(
                    "SELECT projector, parked FROM sync_parked_counts()"
                )
                parked = dict(await cursor.fetchall())
            rows: list[tuple[str, ...]] = []
            for relay in container.relays:
                position = await relay.checkpoint()
                pending, oldest = await relay.pending()
                age = f"{(datetime.now(UTC) - oldest).total_seconds():.1f} s" if oldest else "-"
                rows.append((relay.name, f"{position.transaction_id}/{position.event_id}",
                             str(pending), age, str(parked.get(relay.name, 0))))  # fmt: skip
            return rows

    table = Table(
        "projector", "position (transaction/event)", "waiting", "oldest waiting", "parked"
    )
    for row in asyncio.run(read()):
        table.add_row(*row)
    console.print(table)


@app.command("rebuild")
def rebuild_command(
    projector: Annotated[str, typer.Argument(help="the projector's name, e.g. documents")],
    tenant: Annotated[list[str] | None, _TENANT] = None,
) -> None:
    """Empty the projector's store and project everything again from PostgreSQL."""

    async def work() -> int:
        async with bootstrap.application(settings()) as container:
            relay = _relay(container, projector)
            with Progress(console=console) as progress:
                task = progress.add_task(f"rebuilding {projector}", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                return await rebuild(relay, advance, tenants=await _tenants(container, tenant))

    console.print(f"rebuilt {projector}: {asyncio.run(work())} written")


@app.command("verify")
def verify_command(
    projector: Annotated[str, typer.Argument(help="the projector's name")] = "documents",
    tenant: Annotated[list[str] | None, _TENANT] = None,
) -> None:
    """Report everything in the projector's store that differs from what PostgreSQL says
    (exit 1 on drift)."""

    async def work() -> Drift:
        async with bootstrap.application(settings()) as container:
            relay = _relay(container, projector)
            with Progress(console=console) as progress:
                task = progress.add_task(f"comparing {projector} with PostgreSQL", total=None)
                return await verify(
                    relay,
                    lambda d, t: progress.update(task, completed=d, total=t),
                    tenants=await _tenants(container, tenant),
                )

    drift = asyncio.run(work())
    table = Table("kind", "count")
    for kind in ("missing", "extra", "different"):
        table.add_row(kind, str(len(getattr(drift, kind))))
    console.print(table)
    # The first few of each, one a line and never cut (a table cell cut the ids at 80 columns).
    for kind in ("missing", "extra", "different"):
        for tenant, label, key in getattr(drift, kind)[:_EXAMPLES]:
            console.print(f"{kind}: {label} {key} (shop {tenant})", soft_wrap=True)
    console.print(f"checked {drift.checked}: " + ("no drift" if drift.clean else "DRIFT"))
    if not drift.clean:
        _explain(projector, drift)
        raise typer.Exit(1)


_EXAMPLES = 5  # per kind of drift


def _explain(projector: str, drift: Drift) -> None:
    """What drifted, per label (node label, relationship type, collection, ...), and what
    mends it; a store's for-sale lists (`list:<type>`, one per product) named as such: their
    reads trust them, so a stale one changes what shoppers see."""
    counts = Counter(label for found in (drift.missing, drift.extra, drift.different)
                     for _, label, _ in found)  # fmt: skip
    console.print("drift by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    listed = {list_label(rel) for rel in GRAPH_LISTED}
    lists = sum(n for label, n in counts.items() if label in listed)
    if lists:
        console.print(
            f"{lists} for-sale list(s) (list:<relationship> <product id>) differ from the"
            " product's relationships to products for sale, ranked; reads trust these lists."
        )
    console.print(f"`polyshop sync rebuild {projector}` builds the store again from PostgreSQL.")
