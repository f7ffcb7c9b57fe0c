"""Shared pieces of the CLI commands."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from polyshop.runtime.health import StoreStatus
from polyshop.settings import Settings, load_settings

console = Console(highlight=False)


def settings() -> Settings:
    return load_settings()


def status_table(statuses: list[StoreStatus], revision: str | None = None) -> Table:
    table = Table(title="polyshop stores", title_justify="left")
    table.add_column("store")
    table.add_column("state")
    table.add_column("detail")
    table.add_column("round trip", justify="right")
    for status in statuses:
        state = "[green]up[/]" if status.ok else "[red]down[/]"
        latency = f"{status.latency_ms:.1f} ms" if status.latency_ms is not None else "-"
        table.add_row(status.store, state, status.detail, latency)
    if revision is not None:
        table.caption = f"schema revision {revision}"
    return table
