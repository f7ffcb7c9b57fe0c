"""`polyshop recommend ...`: what the recommenders say, with their reasons (tenant by slug)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated
from uuid import UUID

import typer
from rich.table import Table

from polyshop import bootstrap
from polyshop.cli._common import console, settings
from polyshop.domain.recommendations import Recommendation
from polyshop.services.recommendations import kind_of

app = typer.Typer(
    help="Recommendations from the graph, each with its reason.", no_args_is_help=True
)

Tenant = Annotated[str, typer.Argument(help="the shop's slug")]
Limit = Annotated[int, typer.Option(min=1, max=50, help="how many")]

Ask = Callable[[bootstrap.Container, UUID], Awaitable[list[Recommendation]]]


def _show(slug: str, title: str, ask: Ask) -> None:
    async def run() -> list[Recommendation]:
        async with bootstrap.application(settings()) as container:
            tenant = await container.tenants.get(slug)
            return await ask(container, tenant.id)

    found = asyncio.run(run())
    table = Table("#", "product", "id", "score", "reason", title=title, title_justify="left")
    for rank, r in enumerate(found, 1):
        table.add_row(str(rank), r.name, str(r.product_id), f"{r.score:g}", r.reason)
    console.print(table if found else f"{title}: nothing to recommend yet")


@app.command("product")
def product(
    slug: Tenant,
    product_id: Annotated[UUID, typer.Argument(help="the product's id")],
    kind: Annotated[str, typer.Option(help="bought_together, also_bought, similar or trending")]
    = "bought_together",
    limit: Limit = 10,
) -> None:  # fmt: skip
    """Recommendations shown with a product."""
    chosen = kind_of(kind)
    _show(slug, f"{chosen} for {product_id}",
          lambda c, t: c.recommendations.for_product(t, product_id, chosen, limit))  # fmt: skip


@app.command("customer")
def customer(
    slug: Tenant,
    user_id: Annotated[UUID, typer.Argument(help="the customer's id")],
    limit: Limit = 10,
) -> None:
    """Personalised recommendations for a customer (recent behaviour weighs more)."""
    _show(slug, f"for customer {user_id}",
          lambda c, t: c.recommendations.for_customer(t, user_id, limit))  # fmt: skip


@app.command("trending")
def trending(
    slug: Tenant,
    category_id: Annotated[UUID, typer.Argument(help="the category's id (its subtree counts)")],
    limit: Limit = 10,
) -> None:
    """What is trending in a category and its subcategories."""
    _show(slug, f"trending in {category_id}",
          lambda c, t: c.recommendations.trending(t, category_id, limit))  # fmt: skip
