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


class PaymentStatus(StrEnum):
    """`orders.payment_status`: what the customer has paid for the order, net of refunds."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class ShippingStatus(StrEnum):
    """`orders.shipping_status`."""

    PENDING = "pending"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURNED = "returned"


class PaymentRecordStatus(StrEnum):
    """`payments.status`: one charge at the gateway (an order's payment record)."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    DECLINED = "declined"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class RefundStatus(StrEnum):
    """`refunds.status`: recorded as pending before the gateway is asked, then its answer."""

    PENDING = "pending"
    SETTLED = "settled"
    FAILED = "failed"


# An order's payment with money left to refund.
REFUNDABLE = frozenset({PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED})

# Payments that took money: completed (a refund in part leaves it so), or refunded in full since.
CHARGED = frozenset({PaymentRecordStatus.COMPLETED, PaymentRecordStatus.REFUNDED})


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


def payment_status_after_refund(paid: Decimal, refunded: Decimal) -> PaymentStatus:
    if refunded <= 0:
        return PaymentStatus.PAID
    return PaymentStatus.REFUNDED if refunded >= paid else PaymentStatus.PARTIALLY_REFUNDED
