"""`polyshop analytics ...`: the analytics queries of one shop, printed as tables."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Annotated, TypeVar
from uuid import UUID

import typer
from rich.table import Table

from polyshop import bootstrap
from polyshop.cli._common import console, settings
from polyshop.domain.analytics import AnalyticsEvent, Funnel
from polyshop.domain.errors import ValidationError
from polyshop.services.analytics import AnalyticsService

app = typer.Typer(
    help="Analytics of a shop: timelines, funnels, top products.", no_args_is_help=True
)

T = TypeVar("T")
Shop = Annotated[str, typer.Option("--shop", help="the shop's slug")]
Day = Annotated[str | None, typer.Option(help="UTC day, YYYY-MM-DD (default: today)")]


def _day(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not a day (YYYY-MM-DD)", field="day") from None


def _uuid(value: str, name: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ValidationError(f"{value!r} is not an id", field=name) from None


def _run(slug: str, query: Callable[[AnalyticsService, UUID], Awaitable[T]]) -> T:
    async def work() -> T:
        async with bootstrap.application(settings()) as container:
            tenant = await container.tenants.get(slug)
            return await query(container.analytics, tenant.id)

    return asyncio.run(work())


def _events_table(title: str, events: list[AnalyticsEvent]) -> Table:
    table = Table("time (UTC)", "type", "product", "order", "quantity", "amount", "detail",
                  title=title, title_justify="left")  # fmt: skip
    for e in events:
        table.add_row(
            e.occurred_at.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3], str(e.type),
            str(e.product_id or ""), str(e.order_id or ""),
            "" if e.quantity is None else str(e.quantity), "" if e.amount is None else str(e.amount),
            e.detail or e.query or "",
        )  # fmt: skip
    table.caption = f"{len(events)} events"
    return table


@app.command("timeline")
def timeline_command(
    shop: Shop,
    customer: Annotated[str | None, typer.Option(help="a customer's id")] = None,
    cart: Annotated[str | None, typer.Option(help="an anonymous visitor's cart token")] = None,
    day: Day = None,
) -> None:
    """A customer's (or an anonymous cart's) events of a day."""
    when = _day(day)
    customer_id = _uuid(customer, "customer") if customer else None
    events = _run(shop, lambda a, t: a.timeline(t, when, customer_id=customer_id, cart_token=cart))
    console.print(_events_table(f"timeline of {customer or cart} on {when}", events))


@app.command("hourly")
def hourly_command(
    shop: Shop, product: Annotated[str, typer.Argument(help="the product's id")], day: Day = None
) -> None:
    """A product's events per hour and type."""
    when, product_id = _day(day), _uuid(product, "product")
    counts = _run(shop, lambda a, t: a.product_hourly(t, product_id, when))
    table = Table("hour (UTC)", "type", "events", title=f"product {product} on {when}",
                  title_justify="left")  # fmt: skip
    for c in counts:
        table.add_row(f"{c.hour:02d}:00", str(c.type), str(c.events))
    console.print(table)


@app.command("funnel")
def funnel_command(
    shop: Shop,
    product: Annotated[str | None, typer.Option(help="a product's id")] = None,
    category: Annotated[str | None, typer.Option(help="a category's id")] = None,
    day: Day = None,
) -> None:
    """Views → add to cart → purchases of a product or a category on a day."""
    when = _day(day)
    product_id = _uuid(product, "product") if product else None
    category_id = _uuid(category, "category") if category else None
    found: Funnel = _run(
        shop, lambda a, t: a.funnel(t, when, product_id=product_id, category_id=category_id)
    )
    table = Table("step", "events", "conversion", title=f"funnel on {when}", title_justify="left")
    table.add_row("views", str(found.views), "")
    rate = found.view_to_cart
    table.add_row("add to cart", str(found.add_to_cart), "-" if rate is None else f"{rate:.1%}")
    rate = found.cart_to_purchase
    table.add_row("purchases", str(found.purchases), "-" if rate is None else f"{rate:.1%}")
    table.caption = f"revenue {found.revenue}"
    console.print(table)


@app.command("top")
def top_command(
    shop: Shop,
    by: Annotated[str, typer.Option(help="views or revenue")] = "views",
    limit: Annotated[int, typer.Option(min=1, max=100)] = 10,
    day: Day = None,
) -> None:
    """The day's top products by views or by revenue."""
    when = _day(day)
    ranks = _run(shop, lambda a, t: a.top_products(t, when, by=by, limit=limit))
    table = Table("#", "product", "views", "purchases", "revenue",
                  title=f"top products by {by} on {when}", title_justify="left")  # fmt: skip
    for n, r in enumerate(ranks, start=1):
        table.add_row(str(n), str(r.product_id), str(r.views), str(r.purchases), str(r.revenue))
    console.print(table)


@app.command("order")
def order_command(shop: Shop, order: Annotated[str, typer.Argument(help="the order's id")]) -> None:
    """An order's history: placed lines, status changes, refunds."""
    order_id = _uuid(order, "order")
    events = _run(shop, lambda a, t: a.order_history(t, order_id))
    console.print(_events_table(f"order {order}", events))
