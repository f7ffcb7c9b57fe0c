"""`polyshop sync ...`: the outbox relay and the health of the derived stores."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from polyshop import bootstrap
from polyshop.cli._common import console, settings
from polyshop.domain.errors import NotFoundError
from polyshop.sync import DocumentProjector
from polyshop.sync.graph import GraphProjector, graph_head, rebuild_tenant, verify_tenant
from polyshop.sync.maintenance import Drift, rebuild, tenant_ids, verify

app = typer.Typer(help="Keep derived stores in step with PostgreSQL.", no_args_is_help=True)
PROJECTORS = ("documents", "graph")


def _projector(name: str) -> None:
    if name not in PROJECTORS:
        raise NotFoundError(f"no projector {name!r} (known: {', '.join(PROJECTORS)})")


@app.command("run")
def run_command(
    until_idle: Annotated[bool, typer.Option(help="stop once every event is applied")] = False,
) -> None:
    """Run the relay: apply outbox events to every projector until stopped (Ctrl-C)."""

    async def work() -> None:
        async with bootstrap.application(settings()) as container:
            relays = (container.relay, container.graph_relay)
            if until_idle:
                for relay in relays:
                    applied = await relay.run_until_idle()
                    console.print(f"{relay.name}: applied {applied} events; caught up")
                return
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            console.print("relays running; Ctrl-C stops them")
            await asyncio.gather(*(r.run(container.urls.postgres, stop) for r in relays))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(work())


@app.command("status")
def status_command() -> None:
    """Lag per projector: position, events waiting, the oldest one's age, parked events."""

    async def read() -> list[tuple[str, ...]]:
        async with bootstrap.application(settings()) as container:
            async with container.database.unit_of_work() as uow:
                cursor = await uow.connection.execute(
                    "SELECT projector, parked FROM sync_parked_counts()"
                )
                parked = dict(await cursor.fetchall())
            rows: list[tuple[str, ...]] = []
            for relay in (container.relay, container.graph_relay):
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
def rebuild_command(projector: Annotated[str, typer.Argument(help="documents or graph")]) -> None:
    """Empty the projector's store and project everything again from PostgreSQL."""
    _projector(projector)
    if projector == "graph":
        console.print(f"rebuilt graph: {asyncio.run(_rebuild_graph())} tenants")
        return

    async def work() -> int:
        async with bootstrap.application(settings()) as container:
            with Progress(console=console) as progress:
                task = progress.add_task(f"rebuilding {projector}", total=None)

                def advance(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                return await rebuild(container.relay, _documents(container), advance)

    console.print(f"rebuilt {projector}: {asyncio.run(work())} documents written")


@app.command("verify")
def verify_command(
    projector: Annotated[str, typer.Argument(help="documents or graph")] = "documents",
) -> None:
    """Report what differs from what PostgreSQL says (exit 1 on drift)."""
    _projector(projector)
    if projector == "graph":
        _verify_graph()
        return

    async def work() -> Drift:
        async with bootstrap.application(settings()) as container:
            with Progress(console=console) as progress:
                task = progress.add_task("comparing documents with PostgreSQL", total=None)
                return await verify(
                    _documents(container), lambda d, t: progress.update(task, completed=d, total=t)
                )

    drift = asyncio.run(work())
    table = Table("kind", "count", "examples (tenant / collection / id)")
    for kind in ("missing", "extra", "different"):
        found = getattr(drift, kind)
        table.add_row(kind, str(len(found)), ", ".join(f"{t}/{c}/{i}" for t, c, i in found[:3]))
    console.print(table)
    console.print(f"checked {drift.checked} documents: " + ("no drift" if drift.clean else "DRIFT"))
    if not drift.clean:
        raise typer.Exit(1)


def _documents(container: bootstrap.Container) -> DocumentProjector:
    return DocumentProjector(container.database, container.documents)


def _graph(container: bootstrap.Container) -> GraphProjector:
    return GraphProjector(container.database, container.graph)


async def _rebuild_graph() -> int:
    async with bootstrap.application(settings()) as container:
        relay = container.graph_relay
        head = await graph_head(container.database)
        tenants = await tenant_ids(container.database)
        with Progress(console=console) as progress:
            task = progress.add_task("rebuilding graph", total=len(tenants))
            for tenant_id in tenants:
                await rebuild_tenant(_graph(container), tenant_id)
                progress.advance(task)
        # Events after the head are applied again: harmless, every application is idempotent.
        await relay.save(head)
        return len(tenants)


def _verify_graph() -> None:
    async def work() -> tuple[int, list[str]]:
        async with bootstrap.application(settings()) as container:
            tenants = await tenant_ids(container.database)
            problems: list[str] = []
            with Progress(console=console) as progress:
                task = progress.add_task("comparing the graph with PostgreSQL", total=len(tenants))
                for tenant_id in tenants:
                    problems += [f"{tenant_id} {p}"
                                 for p in await verify_tenant(_graph(container), tenant_id)]  # fmt: skip
                    progress.advance(task)
            return len(tenants), problems

    checked, problems = asyncio.run(work())
    for problem in problems[:20]:
        console.print(problem)
    console.print(f"checked the graph of {checked} tenants: "
                  + (f"DRIFT ({len(problems)} differences)" if problems else "no drift"))  # fmt: skip
    if problems:
        raise typer.Exit(1)
