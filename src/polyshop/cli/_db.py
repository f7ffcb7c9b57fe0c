"""`polyshop db ...`: schema migrations."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from psycopg.conninfo import conninfo_to_dict

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
        str | None,
        typer.Option(
            envvar="POLYSHOP_APP_PASSWORD",
            help="the application role's password, when POLYSHOP_POSTGRES_URL has none",
        ),
    ] = None,
) -> None:
    """Create the roles and the database POLYSHOP_POSTGRES_URL names (profile full, as a
    superuser; the admin URL may name that database or the maintenance database `postgres`)."""
    config = settings()
    if config.profile == "embedded":
        bootstrap.store_urls(config)  # the embedded runtime provisions itself
        console.print("roles and database are in place (embedded)")
        return
    assert config.postgres_url is not None
    admin = config.postgres_admin_url
    if admin is None:
        raise ConfigurationError("POLYSHOP_POSTGRES_ADMIN_URL: needed to provision")
    url_password = conninfo_to_dict(config.postgres_url).get("password")
    if app_password is None and not url_password and sys.stdin.isatty():
        app_password = typer.prompt("application role password", hide_input=True)
    database = provision(
        admin, config.postgres_url, relay_url=config.postgres_relay_url,
        platform_url=config.postgres_platform_url, app_password=app_password,
    )  # fmt: skip
    console.print(f"roles and database {database!r} are in place")
