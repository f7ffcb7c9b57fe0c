"""`polyshop up|down|status|serve`: the stores and the API server."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
import uvicorn

from polyshop import bootstrap
from polyshop.cli._common import console, settings, status_table
from polyshop.domain.errors import StoreUnavailableError
from polyshop.runtime.health import StoreStatus


def _up() -> tuple[bootstrap.StoreUrls, list[StoreStatus], str | None]:
    config = settings()
    if config.profile == "embedded":
        with console.status(f"starting embedded stores in {config.data_dir} ..."):
            urls = bootstrap.store_urls(config)
    else:
        urls = bootstrap.store_urls(config)
    statuses = asyncio.run(bootstrap.check_stores(urls, config.mongo_url, config.cassandra_hosts))
    bootstrap.raise_for_unavailable(statuses)
    with console.status("migrating the schema ..."):
        revision = bootstrap.migrate(urls)
        for applied in bootstrap.prepare_analytics(config):
            console.print(f"cassandra: applied {applied}")
    for skipped in asyncio.run(bootstrap.prepare_documents(config, urls)):
        console.print(f"[yellow]mongodb lacks {skipped}; skipped[/]")
    return urls, statuses, revision


def up() -> None:
    """Start the embedded stores (or check the `full` ones), migrate, print each store's status."""
    _, statuses, revision = _up()
    console.print(status_table(statuses, revision))


def down() -> None:
    """Stop the embedded stores."""
    config = settings()
    if config.profile != "embedded":
        raise StoreUnavailableError(
            "stores", "profile 'full' does not manage servers; stop them where they run"
        )
    stopped = bootstrap.embedded_runtime(config).down()
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


def status() -> None:
    """Print each store's status without starting anything."""
    config = settings()
    if config.profile == "embedded":
        running = bootstrap.embedded_runtime(config).running()
        if not all(running.values()):
            statuses = [
                StoreStatus(name, port is not None, f"port {port}" if port else "not running")
                for name, port in running.items()
            ]
            console.print(status_table(statuses))
            raise typer.Exit(1)
    urls = bootstrap.store_urls(config)
    statuses = asyncio.run(bootstrap.check_stores(urls, config.mongo_url, config.cassandra_hosts))
    console.print(status_table(statuses))
    if not all(s.ok for s in statuses):
        raise typer.Exit(1)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (0: any free)")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Worker processes")] = None,
) -> None:
    """Serve the HTTP API (uvicorn, uvloop, httptools) after starting and migrating the stores."""
    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"POLYSHOP_API_{name}"] = str(value)
    config = settings()
    _, statuses, revision = _up()
    console.print(status_table(statuses, revision))
    if config.platform_admin_token is None:
        console.print("[yellow]POLYSHOP_PLATFORM_ADMIN_TOKEN is not set: /platform is closed[/]")
    uvicorn.run(
        "polyshop.api:app_from_environment", factory=True, host=config.api_host,
        port=config.api_port, workers=config.api_workers, loop="uvloop", http="httptools",
        proxy_headers=True, server_header=False, log_level="warning", access_log=False,
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    for command in (up, down, status, serve):
        app.command()(command)
