"""`polyshop tenants ...`: the platform operator's view of the shops."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.table import Table

from polyshop import bootstrap
from polyshop.cli._common import console, settings
from polyshop.domain.tenancy import Tenant

app = typer.Typer(help="Create and list tenants (shops).", no_args_is_help=True)


@app.command("create")
def create(
    slug: Annotated[str, typer.Argument(help="short unique name, e.g. acme")],
    name: Annotated[str, typer.Option(help="display name")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code")] = "USD",
    domain: Annotated[
        list[str] | None, typer.Option(help="host name that selects this shop")
    ] = None,
) -> None:
    """Create a tenant."""

    async def run() -> Tenant:
        async with bootstrap.application(settings()) as container:
            return await container.tenants.create(
                slug, name, currency=currency, domains=tuple(domain or ())
            )

    tenant = asyncio.run(run())
    console.print(f"created tenant {tenant.slug!r} with id {tenant.id}")


@app.command("list")
def list_tenants() -> None:
    """List every tenant."""

    async def run() -> list[Tenant]:
        async with bootstrap.application(settings()) as container:
            return await container.tenants.list()

    table = Table("slug", "name", "currency", "status", "id", "created")
    for tenant in asyncio.run(run()):
        table.add_row(
            tenant.slug,
            tenant.name,
            tenant.currency,
            tenant.status,
            str(tenant.id),
            tenant.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)
