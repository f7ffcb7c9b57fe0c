"""Analytics over HTTP: storefront events in (POST /events), and the analytics queries for shop
admins (`read:analytics`) and for a customer's own timeline."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, status
from pydantic import Field

from polyshop.api._common import PROBLEMS, Model, Money
from polyshop.api._context import (
    Allowed,
    MaybePrincipal,
    Principal,
    Services,
    SignedIn,
    Tenant,
    rate_limit,
)
from polyshop.domain.analytics import AnalyticsEvent, EventType
from polyshop.domain.errors import ForbiddenError, ValidationError
from polyshop.domain.identity import Permission, Role

router = APIRouter(tags=["analytics"], responses=PROBLEMS, dependencies=[Depends(rate_limit)])

Analyst = Annotated[Principal, Depends(Allowed(Permission.READ_ANALYTICS))]
Day = Annotated[date | None, Query(description="The UTC day, e.g. 2026-11-25 (default: today)")]
Token = Annotated[str, Field(min_length=1, max_length=255)]


class EventIn(Model):
    event_id: UUID
    # A string rather than an enum, so an unknown type is refused naming `events[i].type`.
    type: Annotated[str, Field(max_length=50)]
    occurred_at: datetime
    customer_id: UUID | None = None
    cart_token: Token | None = None
    session_id: Token | None = None
    product_id: UUID | None = None
    category_id: UUID | None = None
    query: Annotated[str, Field(max_length=500)] | None = None
    quantity: Annotated[int, Field(ge=-10_000, le=10_000)] | None = None


class EventsIn(Model):
    events: list[EventIn]


class Accepted(Model):
    batch_id: UUID
    accepted: int


class EventOut(Model):
    event_id: UUID
    type: str
    occurred_at: datetime
    customer_id: UUID | None
    cart_token: str | None
    session_id: str | None
    product_id: UUID | None
    category_id: UUID | None
    order_id: UUID | None
    query: str | None
    quantity: int | None
    amount: Money | None
    detail: str | None


class HourlyOut(Model):
    hour: int
    type: str
    events: int


class FunnelOut(Model):
    views: int
    add_to_cart: int
    purchases: int
    revenue: Money
    view_to_cart: float | None
    cart_to_purchase: float | None


class RankOut(Model):
    product_id: UUID
    views: int
    purchases: int
    revenue: Money


def _day(day: date | None) -> date:
    return day or datetime.now(UTC).date()


def _out(event: AnalyticsEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id, "type": str(event.type), "occurred_at": event.occurred_at,
        "customer_id": event.customer_id, "cart_token": event.cart_token,
        "session_id": event.session_id, "product_id": event.product_id,
        "category_id": event.category_id, "order_id": event.order_id, "query": event.query,
        "quantity": event.quantity, "amount": event.amount, "detail": event.detail,
    }  # fmt: skip


@router.post("/events", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def record_events(
    body: EventsIn, container: Services, tenant_id: Tenant, who: MaybePrincipal
) -> Any:
    """Storefront events (view, search, add_to_cart, remove_from_cart, checkout_started), a
    whole batch or nothing. Anonymous visitors are known by their cart token; an event about
    a customer needs that customer's own session. Accepted events reach the analytics store
    through the outbox, so this never waits for it."""
    events = []
    for index, raw in enumerate(body.events):
        customer = raw.customer_id
        if customer is not None and (who is None or who.user_id != customer):
            raise ForbiddenError(
                f"events[{index}].customer_id: only that customer's own session may send it"
            )
        if customer is None and who is not None and who.role == Role.CUSTOMER:
            customer = who.user_id
        try:
            kind = EventType(raw.type)
        except ValueError:
            raise ValidationError(
                f"unknown event type {raw.type!r}", field=f"events[{index}].type"
            ) from None
        events.append(AnalyticsEvent(
            tenant_id=tenant_id, event_id=raw.event_id, type=kind,
            occurred_at=raw.occurred_at, customer_id=customer, cart_token=raw.cart_token,
            session_id=raw.session_id, product_id=raw.product_id,
            category_id=raw.category_id, query=raw.query, quantity=raw.quantity,
        ))  # fmt: skip
    batch_id = await container.analytics.record_storefront(tenant_id, events)
    return {"batch_id": batch_id, "accepted": len(events)}


@router.get("/analytics/customers/{user_id}/timeline", response_model=list[EventOut])
async def customer_timeline(
    user_id: UUID, container: Services, tenant_id: Tenant, _: Analyst, day: Day = None
) -> Any:
    events = await container.analytics.timeline(tenant_id, _day(day), customer_id=user_id)
    return [_out(e) for e in events]


@router.get("/analytics/carts/{cart_token}/timeline", response_model=list[EventOut])
async def cart_timeline(
    cart_token: str, container: Services, tenant_id: Tenant, _: Analyst, day: Day = None
) -> Any:
    events = await container.analytics.timeline(tenant_id, _day(day), cart_token=cart_token)
    return [_out(e) for e in events]


@router.get("/me/analytics/timeline", response_model=list[EventOut])
async def my_timeline(
    container: Services, tenant_id: Tenant, who: SignedIn, day: Day = None
) -> Any:
    """The signed-in customer's own events of a day."""
    events = await container.analytics.timeline(tenant_id, _day(day), customer_id=who.user_id)
    return [_out(e) for e in events]


@router.get("/analytics/products/{product_id}/hourly", response_model=list[HourlyOut])
async def product_hourly(
    product_id: UUID, container: Services, tenant_id: Tenant, _: Analyst, day: Day = None
) -> Any:
    counts = await container.analytics.product_hourly(tenant_id, product_id, _day(day))
    return [{"hour": c.hour, "type": str(c.type), "events": c.events} for c in counts]


def _funnel(found: Any) -> dict[str, Any]:
    return {
        "views": found.views, "add_to_cart": found.add_to_cart, "purchases": found.purchases,
        "revenue": found.revenue, "view_to_cart": found.view_to_cart,
        "cart_to_purchase": found.cart_to_purchase,
    }  # fmt: skip


@router.get("/analytics/products/{product_id}/funnel", response_model=FunnelOut)
async def product_funnel(
    product_id: UUID, container: Services, tenant_id: Tenant, _: Analyst, day: Day = None
) -> Any:
    return _funnel(await container.analytics.funnel(tenant_id, _day(day), product_id=product_id))


@router.get("/analytics/categories/{category_id}/funnel", response_model=FunnelOut)
async def category_funnel(
    category_id: UUID, container: Services, tenant_id: Tenant, _: Analyst, day: Day = None
) -> Any:
    return _funnel(await container.analytics.funnel(tenant_id, _day(day), category_id=category_id))


@router.get("/analytics/top-products", response_model=list[RankOut])
async def top_products(
    container: Services, tenant_id: Tenant, _: Analyst, day: Day = None,
    by: Annotated[str, Query(pattern="^(views|revenue)$")] = "views",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Any:  # fmt: skip
    ranks = await container.analytics.top_products(tenant_id, _day(day), by=by, limit=limit)
    return [
        {"product_id": r.product_id, "views": r.views, "purchases": r.purchases,
         "revenue": r.revenue}
        for r in ranks
    ]  # fmt: skip


@router.get("/analytics/orders/{order_id}/events", response_model=list[EventOut])
async def order_events(order_id: UUID, container: Services, tenant_id: Tenant, _: Analyst) -> Any:
    return [_out(e) for e in await container.analytics.order_history(tenant_id, order_id)]
