"""Orders over the period that went through the real steps: stock reserved, then paid or
declined (stock released, order cancelled), then processing, shipped, delivered and sometimes
refunded, as far as the period's end allows. Each order has its items, its payment, a refund
when refunded, its status history, the outbox events a projector reads, and its stock movements
in the ledger; delivered orders may get reviews (verified purchases) with helpful votes.

Order times follow the seasonality; each order's customer registered before it; SKUs are
picked by popularity; the shop restocks an item just before an order would take it below zero.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from polyshop.domain.events import Aggregate, Event, order_moved_to
from polyshop.domain.money import ZERO
from polyshop.domain.orders import (
    OrderStatus,
    PaymentRecordStatus,
    PaymentStatus,
    RefundStatus,
    ShippingStatus,
)
from polyshop.domain.pricing import DEFAULT_SHIPPING, PricedLine, Quote, quote
from polyshop.services.seeding._plan import CHUNK, ORDER_TABLES, Batch, empty_batches
from polyshop.services.seeding._shop import ShopState
from polyshop.services.seeding._vocabulary import (
    CARRIERS,
    DISCOUNT_CODES,
    LINES,
    LINES_CUM,
    QUANTITIES,
    QUANTITIES_CUM,
    RATING_CUM,
    RATINGS,
)

# Orders are numbered per shop from here (checkouts after the seed continue after them).
FIRST_ORDER_NUMBER = 1001


@dataclass(slots=True)
class _Outcome:
    """Where a paid-for (or declined) order stands at the period's end."""

    last: datetime  # its last change (orders.updated_at, payments.updated_at)
    status: OrderStatus = OrderStatus.CONFIRMED
    payment_status: PaymentStatus = PaymentStatus.PAID  # orders.payment_status
    payment_state: PaymentRecordStatus = PaymentRecordStatus.COMPLETED  # payments.status
    shipping_status: ShippingStatus = ShippingStatus.PENDING
    refunded: Decimal = ZERO
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    carrier: str | None = None
    tracking: str | None = None


class OrderRows(ShopState):
    def orders(self) -> Iterator[list[Batch]]:
        if not self.skus or not self.user_ids:
            return
        times = sorted(self._moment() for _ in range(self.n_orders))
        for start in range(0, len(times), CHUNK):
            b = empty_batches(*ORDER_TABLES)
            for number, placed_at in enumerate(times[start : start + CHUNK], start=start):
                self._order(b, FIRST_ORDER_NUMBER + number, placed_at)
            yield list(b.values())

    def _order(self, b: dict[str, Batch], number: int, at: datetime) -> None:
        """Order `number`, placed `at`: its lines priced by `domain.pricing.quote`, its stock
        reserved, then its payment's fate (3% declined, 4% returned once delivered)."""
        rng = self.rng
        oid, payment = self._uuid(), self._uuid()
        u = self._customer_before(at)
        user = self.user_ids[u]
        _, _, address = self._person(u)
        count = rng.choices(LINES, cum_weights=LINES_CUM)[0]
        lines = [
            PricedLine(s.product_id, s.variant_id, s.name, s.sku,
                       rng.choices(QUANTITIES, cum_weights=QUANTITIES_CUM)[0], s.price,
                       options=s.options)
            for s in self._pick_skus(count)
        ]  # fmt: skip
        method = "express" if rng.random() < 0.15 else DEFAULT_SHIPPING
        code = rng.choice(DISCOUNT_CODES) if rng.random() < 0.1 else None
        q = quote(lines, self.rules, country=self.country, shipping_method=method,
                  discount_code=code)  # fmt: skip
        self._reserve(b, oid, lines, at)
        self._history(b, oid, None, OrderStatus.PENDING, "stock reserved, awaiting payment",
                      user, at)  # fmt: skip
        self._event(b, oid, Event.ORDER_RESERVED, {"order_number": str(number)}, at)
        paid_at = at + timedelta(seconds=rng.randint(2, 40))
        fate = rng.random()
        if fate < 0.03:  # the card was declined: stock released, order cancelled
            o = self._declined(b, oid, lines, paid_at)
        else:
            o = self._paid(b, oid, payment, number, user, lines, q, paid_at, returned=fate > 0.96)
        b["payments"].rows.append(
            (self.tenant_id, payment, oid, "card", "test", f"test_{payment.hex[:24]}", q.total,
             o.refunded, self.currency, o.payment_state, paid_at, at, o.last))  # fmt: skip
        b["orders"].rows.append((
            self.tenant_id, oid, str(number), user, o.status, q.subtotal, q.tax, q.shipping,
            q.discount, q.total, self.currency, o.payment_status, o.shipping_status, address,
            address, q.shipping_method, o.carrier, o.tracking, at, o.last, o.shipped_at,
            o.delivered_at,
        ))  # fmt: skip

    def _reserve(self, b: dict[str, Batch], oid: UUID, lines: Sequence[PricedLine],
                 at: datetime) -> None:  # fmt: skip
        """Take each line's stock (restocking first when it would run out) and write the
        order's items."""
        t, ledger = self.tenant_id, b["inventory_transactions"].rows
        for line in lines:
            key = (line.product_id, line.variant_id)
            if self.stock[key] < line.quantity:  # the shop restocked before this order
                more = line.quantity + self.rng.randint(50, 300)
                self._ledger(ledger, key, "in", more, "restock", None, at - timedelta(hours=2))
            self._ledger(ledger, key, "out", -line.quantity, "order", oid, at)
            b["order_items"].rows.append(
                (t, self._uuid(), oid, line.product_id, line.variant_id, line.name, line.sku,
                 dict(line.options), line.quantity, line.unit_price, line.total, at))  # fmt: skip

    def _declined(self, b: dict[str, Batch], oid: UUID, lines: Sequence[PricedLine],
                  at: datetime) -> _Outcome:  # fmt: skip
        for line in lines:
            self._ledger(b["inventory_transactions"].rows, (line.product_id, line.variant_id),
                         "in", line.quantity, "order released", oid, at)  # fmt: skip
        reason = "payment declined"
        self._history(b, oid, OrderStatus.PENDING, OrderStatus.CANCELLED, reason, None, at)
        self._event(b, oid, Event.ORDER_CANCELLED,
                    {"from": OrderStatus.PENDING, "to": OrderStatus.CANCELLED, "reason": reason},
                    at)  # fmt: skip
        return _Outcome(at, OrderStatus.CANCELLED, payment_status=PaymentStatus.FAILED,
                        payment_state=PaymentRecordStatus.DECLINED)  # fmt: skip

    def _paid(self, b: dict[str, Batch], oid: UUID, payment: UUID, number: int, user: UUID,
              lines: Sequence[PricedLine], q: Quote, at: datetime, *,
              returned: bool) -> _Outcome:  # fmt: skip
        """Confirmed, then each later step that happened before the period's end."""
        rng = self.rng
        self._history(b, oid, OrderStatus.PENDING, OrderStatus.CONFIRMED, "payment completed",
                      user, at)  # fmt: skip
        self._event(b, oid, Event.ORDER_PLACED, {
            "order_id": str(oid), "order_number": str(number), "customer_id": str(user),
            "total": str(q.total), "discount": str(q.discount), "currency": self.currency,
            "lines": [{"product_id": str(x.product_id),
                       "variant_id": str(x.variant_id) if x.variant_id else None,
                       "quantity": x.quantity, "unit_price": str(x.unit_price)}
                      for x in sorted(lines, key=lambda x: x.sku)],
        }, at)  # fmt: skip
        processing = at + timedelta(hours=rng.uniform(2, 30))
        shipped = processing + timedelta(hours=rng.uniform(4, 48))
        delivered = shipped + timedelta(hours=rng.uniform(24, 120))
        steps = [(OrderStatus.PROCESSING, processing), (OrderStatus.SHIPPED, shipped),
                 (OrderStatus.DELIVERED, delivered)]  # fmt: skip
        if returned:
            steps.append((OrderStatus.REFUNDED, delivered + timedelta(days=rng.uniform(2, 20))))
        o = _Outcome(at)
        for target, when in steps:
            if when >= self.end:
                break
            self._history(b, oid, o.status, target, None, None, when)
            self._event(b, oid, order_moved_to(target), {"from": o.status, "to": target}, when)
            o.status, o.last = target, when
            if target == OrderStatus.SHIPPED:
                o.shipped_at, o.shipping_status = when, ShippingStatus.SHIPPED
                o.carrier = rng.choice(CARRIERS)
                o.tracking = f"{o.carrier[:2].upper()}{rng.randint(10**9, 10**10 - 1)}"
            elif target == OrderStatus.DELIVERED:
                o.delivered_at, o.shipping_status = when, ShippingStatus.DELIVERED
            elif target == OrderStatus.REFUNDED:
                o.refunded, o.payment_status = q.total, PaymentStatus.REFUNDED
                o.payment_state = PaymentRecordStatus.REFUNDED
                b["refunds"].rows.append(
                    (self.tenant_id, self._uuid(), oid, payment, q.total, self.currency,
                     RefundStatus.SETTLED, "customer return", OrderStatus.REFUNDED,
                     when + timedelta(hours=1), when, when, when))  # fmt: skip
        if o.status == OrderStatus.DELIVERED and o.delivered_at is not None:
            self._reviews(b, oid, user, lines, o.delivered_at)
        return o

    def _history(self, b: dict[str, Batch], oid: UUID, from_status: OrderStatus | None,
                 to_status: OrderStatus, note: str | None, actor: UUID | None,
                 at: datetime) -> None:  # fmt: skip
        b["order_events"].rows.append(
            (self.tenant_id, self._uuid(), oid, from_status, to_status, note, actor, at)
        )

    def _event(self, b: dict[str, Batch], oid: UUID, event: Event, payload: dict[str, Any],
               at: datetime) -> None:  # fmt: skip
        """An order event in the outbox (what the analytics and graph projectors read)."""
        b["outbox"].rows.append(
            (self.tenant_id, str(Aggregate.ORDER), str(oid), str(event), payload, at)
        )

    def _reviews(self, b: dict[str, Batch], oid: UUID, user: UUID, lines: Sequence[PricedLine],
                 delivered_at: datetime) -> None:  # fmt: skip
        t, rng = self.tenant_id, self.rng
        for product in sorted({line.product_id for line in lines}, key=str):
            if rng.random() >= 0.25:
                continue
            written = delivered_at + timedelta(days=rng.uniform(1, 14))
            if written >= self.end:
                continue
            rating = rng.choices(RATINGS, cum_weights=RATING_CUM)[0]
            rid = self._uuid()
            b["reviews"].rows.append(
                (t, rid, product, user, oid, rating, rng.choice(self.review_titles),
                 rng.choice(self.paragraphs), True, rng.random() < 0.9, written, written))  # fmt: skip
            voters = {
                self.user_ids[self._customer_before(written)] for _ in range(rng.randint(0, 3))
            }
            for voter in sorted(voters - {user}, key=str):
                b["review_votes"].rows.append((t, rid, voter, written + timedelta(days=1)))
