"""`polyshop payments ...`: resolve what a crashed or timed-out checkout or refund left pending."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from polyshop import bootstrap
from polyshop.cli._common import console, settings
from polyshop.domain.errors import PaymentFailedError
from polyshop.services.payments import ReconcileReport

app = typer.Typer(help="Payments: reconcile pending charges and refunds.", no_args_is_help=True)


@app.command("reconcile")
def reconcile_command(
    wait: Annotated[
        bool, typer.Option(help="wait for a pass already running elsewhere, instead of skipping")
    ] = True,
) -> None:
    """Ask the gateway about every payment and refund still pending past its deadline, and
    confirm or release each (one pass; `polyshop serve` also runs this in the background)."""

    async def work() -> ReconcileReport | None:
        async with bootstrap.application(settings()) as container:
            return await container.reconciler.run_once(container.urls.postgres, wait=wait)

    report = asyncio.run(work())
    if report is None:
        console.print("another process is reconciling; skipped")
        return
    console.print(
        f"confirmed {report.confirmed}, released {report.released}, refunds settled"
        f" {report.refunds_settled}, refunds failed {report.refunds_failed}"
    )
    if report.errors:
        for line in report.errors[:20]:
            console.print(f"[red]{line}[/]")
        raise PaymentFailedError(f"{len(report.errors)} pending payments could not be resolved")
