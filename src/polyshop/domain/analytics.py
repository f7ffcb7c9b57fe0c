"""Analytics events and the rules about them: what a storefront may send, how an event is keyed
(its user, its day and hour, its bucket), and the shapes the queries answer with. Pure code."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid5

from polyshop.domain.errors import ValidationError
from polyshop.domain.events import Event


class EventType(StrEnum):
    # Sent by the storefront to POST /events.
    VIEW = "view"
    SEARCH = "search"
    ADD_TO_CART = "add_to_cart"
    REMOVE_FROM_CART = "remove_from_cart"
    CHECKOUT_STARTED = "checkout_started"
    # Derived from committed orders by the analytics projector.
    PURCHASE = "purchase"
    ORDER_STATUS = "order_status"
    REFUND = "refund"


STOREFRONT_TYPES = frozenset(
    {EventType.VIEW, EventType.SEARCH, EventType.ADD_TO_CART, EventType.REMOVE_FROM_CART,
     EventType.CHECKOUT_STARTED}
)  # fmt: skip
# The outbox event a POST /events batch becomes (the shared contract with the graph projector).
EVENTS_RECORDED = Event.STOREFRONT_EVENTS_RECORDED

# Hot partitions (a popular product's day, a category's day, a shop's day) are split into this
# many buckets by a hash of the event id; readers ask every bucket. Changing it needs a rebuild.
BUCKETS = 8
# A storefront clock may run a little fast; more than this in the future is refused.
FUTURE_TOLERANCE = timedelta(minutes=5)
_NAMESPACE = UUID("6f0d3c1e-2a7b-4c55-9a55-1d0c5e0b7a11")


@dataclass(frozen=True, slots=True)
class AnalyticsEvent:
    """One event as the analytics stores keep it. `event_id` is its identity: writing the same
    event twice keeps one. `amount` is money (Decimal), set on purchases and refunds."""

    tenant_id: UUID
    event_id: UUID
    type: EventType
    occurred_at: datetime
    customer_id: UUID | None = None
    cart_token: str | None = None
    session_id: str | None = None
    product_id: UUID | None = None
    category_id: UUID | None = None
    order_id: UUID | None = None
    query: str | None = None
    quantity: int | None = None
    amount: Decimal | None = None
    detail: str | None = None

    @property
    def user_key(self) -> str | None:
        """Whose timeline the event belongs to: the customer, else the anonymous cart."""
        return user_key(self.customer_id, self.cart_token)

    @property
    def day(self) -> date:
        return self.occurred_at.astimezone(UTC).date()

    @property
    def hour(self) -> int:
        return self.occurred_at.astimezone(UTC).hour

    @property
    def bucket(self) -> int:
        return bucket_of(self.event_id)


def user_key(customer_id: UUID | None, cart_token: str | None) -> str | None:
    if customer_id is not None:
        return f"customer:{customer_id}"
    if cart_token:
        return f"cart:{cart_token}"
    return None


def split_user_key(key: str | None) -> tuple[UUID | None, str | None]:
    """(customer_id, cart_token) back from a user key."""
    if key is None:
        return None, None
    kind, _, value = key.partition(":")
    return (UUID(value), None) if kind == "customer" else (None, value)


def bucket_of(event_id: UUID) -> int:
    # A stable hash (not Python's salted hash()): a replayed event lands in the same bucket.
    return int.from_bytes(hashlib.blake2b(event_id.bytes, digest_size=2).digest()) % BUCKETS


def derived_event_id(outbox_id: int, part: str) -> UUID:
    """The id of an event derived from an outbox row: the same row always gives the same id, so
    a replay of the outbox writes nothing new."""
    return uuid5(_NAMESPACE, f"{outbox_id}:{part}")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class HourlyCount:
    hour: int
    type: EventType
    events: int


@dataclass(frozen=True, slots=True)
class Funnel:
    views: int
    add_to_cart: int
    purchases: int
    revenue: Decimal

    @property
    def view_to_cart(self) -> float | None:
        return self.add_to_cart / self.views if self.views else None

    @property
    def cart_to_purchase(self) -> float | None:
        return self.purchases / self.add_to_cart if self.add_to_cart else None


@dataclass(frozen=True, slots=True)
class ProductRank:
    product_id: UUID
    views: int
    purchases: int
    revenue: Decimal


TOP_BY = ("views", "revenue")
# The most top products one query returns (the API's and the service's bound; the Cassandra
# rollup keeps this many candidates per order).
TOP_MAX = 100


def rank_products(totals: dict[UUID, ProductRank], by: str, limit: int) -> list[ProductRank]:
    """Top products by views or revenue; ties broken by the other measure, then the id, so both
    stores give the same order."""
    if by == "views":
        key: Any = lambda r: (-r.views, -r.revenue, str(r.product_id))  # noqa: E731
    else:
        key = lambda r: (-r.revenue, -r.views, str(r.product_id))  # noqa: E731
    return sorted(totals.values(), key=key)[:limit]


# ---- a compact record (JSON-ready): verify spills expected events to disk in this shape -------


def to_record(event: AnalyticsEvent) -> dict[str, Any]:
    """The event as JSON-ready primitives with one-letter keys (`k`, the user key, is derived
    and only there for readers that cannot derive it)."""
    return {
        "i": str(event.event_id), "t": event.type.value, "at": event.occurred_at.isoformat(),
        "u": _text(event.customer_id), "ct": event.cart_token, "s": event.session_id,
        "p": _text(event.product_id), "c": _text(event.category_id), "o": _text(event.order_id),
        "q": event.quantity, "a": None if event.amount is None else str(event.amount),
        "y": event.query, "d": event.detail, "k": event.user_key,
    }  # fmt: skip


def from_record(tenant_id: UUID, r: dict[str, Any]) -> AnalyticsEvent:
    return AnalyticsEvent(
        tenant_id=tenant_id, event_id=UUID(r["i"]), type=EventType(r["t"]),
        occurred_at=datetime.fromisoformat(r["at"]), customer_id=_uuid(r["u"]),
        cart_token=r["ct"], session_id=r["s"], product_id=_uuid(r["p"]),
        category_id=_uuid(r["c"]), order_id=_uuid(r["o"]), quantity=r["q"],
        amount=None if r["a"] is None else Decimal(r["a"]), query=r["y"], detail=r["d"],
    )  # fmt: skip


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _uuid(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)


# ---- the storefront's batch -------------------------------------------------------------------

_NEEDS_PRODUCT = {EventType.VIEW, EventType.ADD_TO_CART, EventType.REMOVE_FROM_CART}
_NEEDS_QUANTITY = {EventType.ADD_TO_CART, EventType.REMOVE_FROM_CART}


@dataclass(frozen=True, slots=True)
class StorefrontBatch:
    events: list[AnalyticsEvent] = field(default_factory=list)

    def payload(self) -> dict[str, Any]:
        """The outbox payload (the contract shared with the graph projector)."""
        return {"events": [_payload_event(e) for e in self.events]}


def _payload_event(event: AnalyticsEvent) -> dict[str, Any]:
    return payload_event(
        event_id=event.event_id, kind=event.type, occurred_at=event.occurred_at,
        customer_id=event.customer_id, cart_token=event.cart_token, session_id=event.session_id,
        product_id=event.product_id, category_id=event.category_id, query=event.query,
        quantity=event.quantity,
    )  # fmt: skip


def payload_event(
    *, event_id: UUID, kind: EventType, occurred_at: datetime, customer_id: UUID | None,
    cart_token: str | None, session_id: str | None, product_id: UUID | None,
    category_id: UUID | None, query: str | None, quantity: int | None,
) -> dict[str, Any]:  # fmt: skip
    """One event as a storefront batch's outbox payload holds it. The seed generator calls it
    directly: it writes millions, and making an `AnalyticsEvent` first made that a fifth slower."""
    return {
        "event_id": str(event_id),
        "type": str(kind),
        "occurred_at": occurred_at.isoformat(),
        "customer_id": str(customer_id) if customer_id else None,
        "cart_token": cart_token,
        "session_id": session_id,
        "product_id": str(product_id) if product_id else None,
        "category_id": str(category_id) if category_id else None,
        "query": query,
        "quantity": quantity,
    }


def storefront_event(tenant_id: UUID, raw: dict[str, Any]) -> AnalyticsEvent:
    """An event from an outbox payload (already validated when it was accepted)."""
    return AnalyticsEvent(
        tenant_id=tenant_id,
        event_id=UUID(raw["event_id"]),
        type=EventType(raw["type"]),
        occurred_at=datetime.fromisoformat(raw["occurred_at"]),
        customer_id=UUID(raw["customer_id"]) if raw.get("customer_id") else None,
        cart_token=raw.get("cart_token"),
        session_id=raw.get("session_id"),
        product_id=UUID(raw["product_id"]) if raw.get("product_id") else None,
        category_id=UUID(raw["category_id"]) if raw.get("category_id") else None,
        query=raw.get("query"),
        quantity=raw.get("quantity"),
    )


def validate_batch(
    tenant_id: UUID, events: list[AnalyticsEvent], *, max_events: int, now: datetime
) -> StorefrontBatch:
    """Refuse the whole batch on the first bad event, naming the field (`events[3].product_id`)."""
    if not events:
        raise ValidationError("a batch needs at least one event", field="events")
    if len(events) > max_events:
        raise ValidationError(
            f"a batch holds at most {max_events} events, not {len(events)}", field="events"
        )
    seen: set[UUID] = set()
    for index, event in enumerate(events):
        where = f"events[{index}]"
        if event.tenant_id != tenant_id:
            raise ValidationError("event of another shop", field=where)
        if event.type not in STOREFRONT_TYPES:
            raise ValidationError(f"unknown event type {event.type!r}", field=f"{where}.type")
        if event.occurred_at.tzinfo is None:
            raise ValidationError("needs a time zone", field=f"{where}.occurred_at")
        if event.occurred_at > now + FUTURE_TOLERANCE:
            raise ValidationError("is in the future", field=f"{where}.occurred_at")
        if event.customer_id is None and not event.cart_token and not event.session_id:
            raise ValidationError(
                "an event needs a customer_id, a cart_token or a session_id",
                field=f"{where}.cart_token",
            )
        if event.type in _NEEDS_PRODUCT and event.product_id is None:
            raise ValidationError(f"a {event.type} needs a product", field=f"{where}.product_id")
        if event.type == EventType.SEARCH and not (event.query and event.query.strip()):
            raise ValidationError("a search needs a query", field=f"{where}.query")
        if event.type in _NEEDS_QUANTITY and (event.quantity is None or event.quantity < 1):
            raise ValidationError(
                f"a {event.type} needs a quantity of at least 1", field=f"{where}.quantity"
            )
        if event.event_id in seen:
            raise ValidationError("the same event_id twice in one batch", field=f"{where}.event_id")
        seen.add(event.event_id)
    return StorefrontBatch(list(events))
