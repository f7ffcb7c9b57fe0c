"""`polyshop db ...`: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from polyshop import bootstrap
from polyshop.adapters.postgres import (
    current_revision,
    downgrade,
    head_revision,
    maintain,
    provision,
    upgrade,
)
from polyshop.cli._common import console, settings
from polyshop.domain.errors import ConfigurationError

app = typer.Typer(help="Schema migrations.", no_args_is_help=True)


def _admin_url() -> str:
    urls = bootstrap.store_urls(settings())
    if urls.postgres_admin is None:
        raise ConfigurationError("POLYSHOP_POSTGRES_ADMIN_URL: needed for migrations")
    return urls.postgres_admin


@app.command("upgrade")
def upgrade_command(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    url = _admin_url()
    upgrade(url, revision)
    console.print(f"schema at revision {current_revision(url)}")
    config = settings()
    if config.cassandra_hosts:
        applied = bootstrap.prepare_analytics(config)
        console.print(
            f"cassandra keyspace {config.cassandra_keyspace}: "
            + (f"applied {', '.join(applied)}" if applied else "up to date")
        )


@app.command("downgrade")
def downgrade_command(
    revision: Annotated[str, typer.Argument(help="target, e.g. base or -1")],
) -> None:
    """Revert migrations down to REVISION."""
    url = _admin_url()
    downgrade(url, revision)
    console.print(f"schema at revision {current_revision(url) or 'base (empty)'}")


@app.command("current")
def current_command() -> None:
    """Print the applied revision and the newest one available."""
    applied = current_revision(_admin_url())
    console.print(f"applied: {applied or 'none'}; newest: {head_revision()}")


@app.command("maintain")
def maintain_command(
    months_ahead: Annotated[
        int, typer.Option(min=0, max=36, help="analytics partitions to prepare")
    ] = 3,
) -> None:
    """Routine upkeep: analytics partitions ahead, expired idempotency keys purged, ANALYZE."""
    report = maintain(_admin_url(), months_ahead=months_ahead)
    console.print(
        f"analytics partitions created: {report.partitions_created}; "
        f"expired idempotency keys purged: {report.idempotency_keys_purged}; statistics refreshed"
    )


@app.command("provision")
def provision_command(
    app_password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, envvar="POLYSHOP_APP_PASSWORD")
    ],
) -> None:
    """Create the owner and application roles and the database (profile full, as a superuser)."""
    provision(_admin_url(), app_password=app_password)
    console.print("roles and database are in place")
