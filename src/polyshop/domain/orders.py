"""The order state machine and the payment and shipping statuses that go with each state."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from itertools import pairwise

from polyshop.domain.errors import InvalidTransitionError


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


_NEXT: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset(
        {OrderStatus.PROCESSING, OrderStatus.CANCELLED, OrderStatus.REFUNDED}
    ),
    OrderStatus.PROCESSING: frozenset(
        {OrderStatus.SHIPPED, OrderStatus.CANCELLED, OrderStatus.REFUNDED}
    ),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED, OrderStatus.REFUNDED}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}

# Cancelling puts the goods back on the shelf; it is only possible before they leave.
RESTOCK_ON_CANCEL = frozenset({OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.PROCESSING})


def allowed_next(status: OrderStatus) -> frozenset[OrderStatus]:
    return _NEXT[status]


def check_transition(current: OrderStatus, target: OrderStatus) -> None:
    if target not in _NEXT[current]:
        allowed = ", ".join(sorted(_NEXT[current])) or "none (final)"
        raise InvalidTransitionError(
            f"an order that is {current} cannot become {target} (allowed: {allowed})"
        )


def is_legal_history(statuses: list[OrderStatus]) -> bool:
    """Whether a recorded sequence of statuses only ever took allowed steps."""
    return all(b in _NEXT[a] for a, b in pairwise(statuses))


def payment_status_after_refund(paid: Decimal, refunded: Decimal) -> str:
    if refunded <= 0:
        return "paid"
    return "refunded" if refunded >= paid else "partially_refunded"
