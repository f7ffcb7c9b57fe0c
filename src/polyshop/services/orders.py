"""Orders after checkout: status changes with history, cancellation with restock, refunds.

Every change locks the order row first, so two admins cancelling or refunding the same order
are serialised and money is never refunded twice. A refund is recorded as `pending` (with a
deadline) and committed before the gateway is asked, with the refund's id as the gateway's
idempotency reference; the answer settles it (or marks it failed) in a second transaction. A
process that dies in between leaves a pending refund, which the reconciler asks the gateway
about again (`settle_refund`): the same reference never pays twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from polyshop.adapters.postgres import Database, UnitOfWork
from polyshop.codec import dumps
from polyshop.domain.errors import (
    ConflictError,
    NotFoundError,
    PaymentFailedError,
    ValidationError,
)
from polyshop.domain.events import Aggregate, Event, order_moved_to
from polyshop.domain.money import ZERO, parse_money
from polyshop.domain.orders import (
    CHARGED,
    REFUNDABLE,
    RESTOCK_ON_CANCEL,
    OrderStatus,
    PaymentRecordStatus,
    PaymentStatus,
    RefundStatus,
    ShippingStatus,
    allowed_next,
    check_transition,
    payment_status_after_refund,
)
from polyshop.faults import crash_point
from polyshop.ports import (
    NoListener,
    PaymentGateway,
    PaymentOutcome,
    PaymentResult,
    ProductChangeListener,
)
from polyshop.services import _idempotency as idempotency
from polyshop.services._inventory_ledger import record_movement
from polyshop.services.payments import Gateways

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrderSummary:
    id: UUID
    order_number: str
    status: str
    payment_status: str
    shipping_status: str
    total_amount: Decimal
    currency: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VendorLine:
    id: UUID
    order_id: UUID
    order_number: str
    order_status: str
    shipping_status: str
    product_id: UUID
    variant_id: UUID | None
    name: str
    sku: str
    quantity: int
    unit_price: Decimal
    total_price: Decimal
    currency: str
    ordered_at: datetime


_PAYMENTS = (
    "SELECT id, payment_method, payment_gateway, gateway_transaction_id, amount,"
    " refunded_amount, currency, status, processed_at FROM payments"
    " WHERE order_id = %s ORDER BY created_at"
)
_SUMMARY = (
    "id, order_number, status, payment_status, shipping_status, total_amount, currency, created_at"
)


class OrderService:
    def __init__(
        self, database: Database, gateways: Gateways | PaymentGateway,
        listener: ProductChangeListener | None = None, *, reservation_seconds: float = 900,
        gateway_timeout_seconds: float = 30,
    ) -> None:  # fmt: skip
        self._database = database
        self._gateways = gateways if isinstance(gateways, Gateways) else Gateways([gateways])
        self._listener: ProductChangeListener = listener or NoListener()
        self._refund_deadline = timedelta(seconds=reservation_seconds)
        self._gateway_timeout = gateway_timeout_seconds

    async def get(
        self, tenant_id: UUID, order_id: UUID, *, customer_id: UUID | None = None
    ) -> dict[str, Any]:
        """An order with items, payments and history; a customer only sees their own."""
        async with self._database.unit_of_work(tenant_id) as uow:
            async with uow.connection.cursor(row_factory=dict_row) as cursor:
                await cursor.execute("SELECT * FROM orders WHERE id = %s", (order_id,))
                order = await cursor.fetchone()
                if order is None or (customer_id is not None and order["user_id"] != customer_id):
                    raise NotFoundError("order not found")
                await cursor.execute(
                    "SELECT id, product_id, variant_id, name, sku, options, quantity, unit_price,"
                    " total_price FROM order_items WHERE order_id = %s ORDER BY sku",
                    (order_id,),
                )
                order["items"] = await cursor.fetchall()
                await cursor.execute(_PAYMENTS, (order_id,))
                order["payments"] = await cursor.fetchall()
                await cursor.execute(
                    "SELECT from_status, to_status, note, actor_user_id, created_at"
                    " FROM order_events WHERE order_id = %s ORDER BY created_at, id",
                    (order_id,),
                )
                order["events"] = await cursor.fetchall()
        return order

    async def payments(
        self, tenant_id: UUID, order_id: UUID, *, customer_id: UUID | None = None
    ) -> list[dict[str, Any]]:
        """An order's payments, oldest first; a customer only sees their own order's."""
        async with self._database.unit_of_work(tenant_id) as uow:
            async with uow.connection.cursor(row_factory=dict_row) as cursor:
                await cursor.execute("SELECT user_id FROM orders WHERE id = %s", (order_id,))
                order = await cursor.fetchone()
                if order is None or (customer_id is not None and order["user_id"] != customer_id):
                    raise NotFoundError("order not found")
                await cursor.execute(_PAYMENTS, (order_id,))
                return await cursor.fetchall()

    async def history(
        self, tenant_id: UUID, customer_id: UUID | None, *, limit: int = 20,
        before: tuple[datetime, UUID] | None = None,
    ) -> list[OrderSummary]:  # fmt: skip
        """Orders newest first: one customer's, or the whole shop's when `customer_id` is None.
        Pass the last (created_at, id) for the next page. A customer does not see attempts
        whose payment was refused (kept for the shop's records: they never became orders)."""
        if not 1 <= limit <= 100:
            raise ValidationError("limit must be between 1 and 100", field="limit")
        conditions: list[str] = []
        params: list[Any] = []
        if customer_id is not None:
            conditions.append("user_id = %s")
            conditions.append("NOT (status = %s AND payment_status = %s)")
            params.extend((customer_id, OrderStatus.CANCELLED, PaymentStatus.FAILED))
        if before is not None:
            conditions.append("(created_at, id) < (%s, %s)")
            params.extend(before)
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                f"SELECT {_SUMMARY} FROM orders{where} ORDER BY created_at DESC, id DESC LIMIT %s",
                (*params, limit),
            )
            return [OrderSummary(*row) for row in await cursor.fetchall()]

    async def vendor_lines(
        self, tenant_id: UUID, vendor_id: UUID, *, limit: int = 20,
        before: tuple[datetime, UUID] | None = None,
    ) -> list[VendorLine]:  # fmt: skip
        """The order lines of one vendor's products, newest order first: what vendor staff see
        of orders (no customer, address or payment details)."""
        if not 1 <= limit <= 100:
            raise ValidationError("limit must be between 1 and 100", field="limit")
        condition, params = "", [vendor_id]
        if before is not None:
            condition = " AND (o.created_at, i.id) < (%s, %s)"
            params.extend(before)  # type: ignore[arg-type]
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT i.id, o.id, o.order_number, o.status, o.shipping_status, i.product_id,"
                " i.variant_id, i.name, i.sku, i.quantity, i.unit_price, i.total_price, o.currency,"
                " o.created_at FROM order_items i"
                " JOIN products p ON p.tenant_id = i.tenant_id AND p.id = i.product_id"
                " JOIN orders o ON o.tenant_id = i.tenant_id AND o.id = i.order_id"
                f" WHERE p.vendor_id = %s{condition}"
                " ORDER BY o.created_at DESC, i.id DESC LIMIT %s",
                (*params, limit),
            )
            return [VendorLine(*row) for row in await cursor.fetchall()]

    async def mark_processing(
        self, tenant_id: UUID, order_id: UUID, *, actor: UUID | None = None
    ) -> None:
        await self._advance(tenant_id, order_id, OrderStatus.PROCESSING, actor, "processing", {})

    async def ship(
        self, tenant_id: UUID, order_id: UUID, *, carrier: str | None = None,
        tracking_number: str | None = None, actor: UUID | None = None,
    ) -> None:  # fmt: skip
        await self._advance(
            tenant_id, order_id, OrderStatus.SHIPPED, actor, "shipped",
            {"shipping_status": ShippingStatus.SHIPPED, "shipped_at": _NOW,
             "shipping_carrier": carrier, "tracking_number": tracking_number},
        )  # fmt: skip

    async def deliver(self, tenant_id: UUID, order_id: UUID, *, actor: UUID | None = None) -> None:
        await self._advance(
            tenant_id, order_id, OrderStatus.DELIVERED, actor, "delivered",
            {"shipping_status": ShippingStatus.DELIVERED, "delivered_at": _NOW},
        )  # fmt: skip

    async def _advance(
        self, tenant_id: UUID, order_id: UUID, target: OrderStatus, actor: UUID | None,
        note: str, changes: dict[str, Any],
    ) -> None:  # fmt: skip
        async with self._database.unit_of_work(tenant_id) as uow:
            order = await _lock_order(uow, order_id)
            current = OrderStatus(order["status"])
            check_transition(current, target)
            await _set_status(uow, order_id, current, target, actor, note, changes)
            await uow.commit()

    async def cancel(
        self, tenant_id: UUID, order_id: UUID, *, actor: UUID | None = None,
        reason: str = "cancelled", customer_id: UUID | None = None,
    ) -> None:  # fmt: skip
        """Cancel before shipping: the goods go back into stock and what was paid is refunded
        (recorded as pending refunds in the same transaction, then settled with the gateway).
        With `customer_id`, only that customer's order (another's is not found)."""
        async with self._database.unit_of_work(tenant_id) as uow:
            order = await _lock_order(uow, order_id, customer_id)
            current = OrderStatus(order["status"])
            if current is OrderStatus.PENDING and order["payment_status"] == PaymentStatus.PENDING:
                raise ConflictError("the payment of this order is still being processed")
            check_transition(current, OrderStatus.CANCELLED)
            restocked: list[UUID] = []
            if current in RESTOCK_ON_CANCEL:
                restocked = await _restock(uow, order_id, actor)
            refunds: list[UUID] = []
            if order["payment_status"] in REFUNDABLE:
                refunds = await self._record_refunds(
                    uow, order_id, None, order["currency"], reason, actor, target=None
                )
            await _set_status(uow, order_id, current, OrderStatus.CANCELLED, actor, reason, {})
            await uow.commit()
        await self._listener.products_changed(tenant_id, restocked, listings=False)
        crash_point("refund.after_record")
        for refund_id in refunds:
            try:
                await self.settle_refund(tenant_id, refund_id)
            except PaymentFailedError as exc:
                # The order is cancelled either way; the reconciler retries the refund.
                log.warning("refund %s of cancelled order %s left pending: %s",
                            refund_id, order_id, exc)  # fmt: skip

    async def refund(
        self, tenant_id: UUID, order_id: UUID, amount: Decimal | str | None = None, *,
        actor: UUID | None = None, reason: str = "refund", idempotency_key: str | None = None,
    ) -> Decimal:  # fmt: skip
        """Refund `amount` (all that is left when None); the order becomes refunded when nothing
        is left. Returns the amount refunded by this call. The same `idempotency_key` again
        returns the first call's amount and refunds nothing more."""
        fingerprint = ""
        if idempotency_key is not None:
            fingerprint = idempotency.fingerprint(
                {"order": order_id, "amount": amount, "reason": reason}
            )
        try:
            return await self._refund_once(
                tenant_id, order_id, amount, actor, reason, idempotency_key, fingerprint
            )
        except idempotency.KeyTaken:
            done = await idempotency.replay(
                self._database, tenant_id, "refund", idempotency_key or "", fingerprint
            )
            return Decimal(done["amount"])

    async def _refund_once(
        self, tenant_id: UUID, order_id: UUID, amount: Decimal | str | None,
        actor: UUID | None, reason: str, idempotency_key: str | None, fingerprint: str,
    ) -> Decimal:  # fmt: skip
        """Record the refund as pending (committed), ask the gateway, then settle it."""
        async with self._database.unit_of_work(tenant_id) as uow:
            if idempotency_key is not None and not await idempotency.claim(
                uow, "refund", idempotency_key, fingerprint
            ):
                raise idempotency.KeyTaken(fingerprint)
            order = await _lock_order(uow, order_id)
            current = OrderStatus(order["status"])
            if order["payment_status"] not in REFUNDABLE:
                raise ConflictError(f"nothing to refund: the payment is {order['payment_status']}")
            paid, committed = await _paid_and_refunding(uow, order_id)
            remaining = paid - committed
            wanted = remaining if amount is None else parse_money(amount, field="amount")
            if wanted <= ZERO:
                raise ValidationError("a refund must be more than zero", field="amount")
            if wanted > remaining:
                raise ValidationError(
                    f"cannot refund {wanted}: only {remaining} is left to refund", field="amount"
                )
            target = None
            if payment_status_after_refund(paid, committed + wanted) is PaymentStatus.REFUNDED:
                check_transition(current, OrderStatus.REFUNDED)
                target = str(OrderStatus.REFUNDED)
            refunds = await self._record_refunds(
                uow, order_id, wanted, order["currency"], reason, actor, target=target
            )
            if idempotency_key is not None:
                await idempotency.record(
                    uow, "refund", idempotency_key, order_id, {"amount": str(wanted)}
                )
            await uow.commit()
        crash_point("refund.after_record")
        outcomes = [await self.settle_refund(tenant_id, refund_id) for refund_id in refunds]
        if RefundStatus.FAILED in outcomes:
            if idempotency_key is not None:
                await self._forget_key(tenant_id, idempotency_key)
            raise PaymentFailedError("the gateway could not refund; nothing more was refunded")
        return wanted

    async def _forget_key(self, tenant_id: UUID, key: str) -> None:
        """A refused refund spends its key, so a retry asks again rather than replaying."""
        async with self._database.unit_of_work(tenant_id) as uow:
            await uow.connection.execute(
                "UPDATE idempotency_keys SET expires_at = now() WHERE scope = 'refund' AND key = %s",
                (key,),
            )
            await uow.commit()

    async def _record_refunds(
        self, uow: UnitOfWork, order_id: UUID, amount: Decimal | None, currency: str,
        reason: str, actor: UUID | None, *, target: str | None,
    ) -> list[UUID]:  # fmt: skip
        """Pending refunds across the order's payments, oldest first (None: all that is left)."""
        cursor = await uow.connection.execute(
            "SELECT p.id, p.amount - coalesce((SELECT sum(r.amount) FROM refunds r"
            " WHERE r.payment_id = p.id AND r.status <> %s), 0)"
            " FROM payments p WHERE p.order_id = %s AND p.status = ANY(%s)"
            " ORDER BY p.created_at FOR UPDATE OF p",
            (RefundStatus.FAILED, order_id, sorted(CHARGED)),
        )
        left, recorded = amount, []
        for payment_id, refundable in await cursor.fetchall():
            portion = refundable if left is None else min(refundable, left)
            if portion <= 0:
                continue
            refund_id = uuid4()
            await uow.connection.execute(
                "INSERT INTO refunds (tenant_id, id, order_id, payment_id, amount, currency,"
                " reason, order_target, actor_user_id, expires_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now() + %s)",
                (uow.tenant_id, refund_id, order_id, payment_id, portion, currency, reason[:255],
                 target, actor, self._refund_deadline),
            )  # fmt: skip
            recorded.append(refund_id)
            if left is not None:
                left -= portion
        return recorded

    async def settle_refund(self, tenant_id: UUID, refund_id: UUID) -> str:
        """Ask the gateway for the pending refund (by its id: asking twice pays once) and record
        the answer; returns the refund's status afterwards (`pending` if the gateway did not
        answer: the reconciler asks again after the deadline)."""
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT r.status, r.amount, r.currency, p.gateway_transaction_id,"
                " p.payment_gateway FROM refunds r JOIN payments p"
                " ON p.tenant_id = r.tenant_id AND p.id = r.payment_id WHERE r.id = %s",
                (refund_id,),
            )
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError("refund not found")
        status, amount, currency, transaction_id, gateway_name = row
        if status != RefundStatus.PENDING:
            return str(status)
        gateway = self._gateways.get(gateway_name)
        try:
            result = await asyncio.wait_for(
                gateway.refund(
                    reference=str(refund_id), transaction_id=transaction_id, amount=amount,
                    currency=currency,
                ),
                timeout=self._gateway_timeout,
            )  # fmt: skip
        except Exception as exc:
            log.warning("refund %s: %s: %s", refund_id, type(exc).__name__, exc)
            raise PaymentFailedError(
                "the gateway did not answer; the refund stays pending"
            ) from None
        crash_point("refund.after_gateway")
        return await self._record_refund_result(tenant_id, refund_id, result)

    async def _record_refund_result(
        self, tenant_id: UUID, refund_id: UUID, result: PaymentResult
    ) -> str:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT order_id FROM refunds WHERE id = %s", (refund_id,)
            )
            (order_id,) = await cursor.fetchone()  # type: ignore[misc]
            order = await _lock_order(uow, order_id)
            cursor = await uow.connection.execute(
                "SELECT status, amount, payment_id, order_target FROM refunds"
                " WHERE id = %s FOR UPDATE",
                (refund_id,),
            )
            status, amount, payment_id, target = await cursor.fetchone()  # type: ignore[misc]
            if status != RefundStatus.PENDING:
                return str(status)
            approved = result.outcome is PaymentOutcome.APPROVED
            outcome = RefundStatus.SETTLED if approved else RefundStatus.FAILED
            await uow.connection.execute(
                "UPDATE refunds SET status = %s, gateway_refund_id = %s, gateway_response = %s,"
                " settled_at = CASE WHEN %s THEN now() END WHERE id = %s",
                (outcome, result.transaction_id, Jsonb(result.response, dumps), approved,
                 refund_id),
            )  # fmt: skip
            if approved:
                await uow.connection.execute(
                    "UPDATE payments SET refunded_amount = refunded_amount + %s,"
                    " status = CASE WHEN refunded_amount + %s >= amount THEN %s"
                    " ELSE status END WHERE id = %s",
                    (amount, amount, PaymentRecordStatus.REFUNDED, payment_id),
                )
                await self._after_settled(uow, order_id, order, amount, target)
            await uow.commit()
        return outcome

    async def _after_settled(
        self, uow: UnitOfWork, order_id: UUID, order: dict[str, Any], amount: Decimal,
        target: str | None,
    ) -> None:  # fmt: skip
        """The order's payment status (and, for a full refund, its status) once money is back."""
        cursor = await uow.connection.execute(
            "SELECT coalesce(sum(amount), 0), coalesce(sum(refunded_amount), 0) FROM payments"
            " WHERE order_id = %s AND status = ANY(%s)",
            (order_id, sorted(CHARGED)),
        )
        paid, refunded = await cursor.fetchone()  # type: ignore[misc]
        payment_status = payment_status_after_refund(paid, refunded)
        current = OrderStatus(order["status"])
        if (
            target == OrderStatus.REFUNDED
            and payment_status is PaymentStatus.REFUNDED
            and (OrderStatus.REFUNDED in allowed_next(current))
        ):
            await _set_status(
                uow, order_id, current, OrderStatus.REFUNDED, None, "refunded",
                {"payment_status": payment_status},
            )  # fmt: skip
            return
        await uow.connection.execute(
            "UPDATE orders SET payment_status = %s WHERE id = %s", (payment_status, order_id)
        )
        # Every settled refund changes what the order's documents show: always an event.
        await uow.append_event(
            Aggregate.ORDER, order_id,
            Event.ORDER_PARTIALLY_REFUNDED if payment_status is PaymentStatus.PARTIALLY_REFUNDED
            else Event.ORDER_REFUND_SETTLED,
            {"amount": amount, "payment_status": payment_status},
        )  # fmt: skip


async def _paid_and_refunding(uow: UnitOfWork, order_id: UUID) -> tuple[Decimal, Decimal]:
    """What was paid, and what is refunded or being refunded, for the order."""
    cursor = await uow.connection.execute(
        "SELECT coalesce(sum(p.amount), 0), coalesce((SELECT sum(r.amount) FROM refunds r"
        " WHERE r.order_id = %s AND r.status <> %s), 0) FROM payments p"
        " WHERE p.order_id = %s AND p.status = ANY(%s)",
        (order_id, RefundStatus.FAILED, order_id, sorted(CHARGED)),
    )
    paid, refunding = await cursor.fetchone()  # type: ignore[misc]
    return paid, refunding


class _Now:
    """Marker for `now()` in an update, so all timestamps come from the database clock."""


_NOW = _Now()


async def _lock_order(
    uow: UnitOfWork, order_id: UUID, customer_id: UUID | None = None
) -> dict[str, Any]:
    async with uow.connection.cursor(row_factory=dict_row) as cursor:
        await cursor.execute(
            "SELECT status, payment_status, currency, user_id FROM orders WHERE id = %s FOR UPDATE",
            (order_id,),
        )
        order = await cursor.fetchone()
    if order is None or (customer_id is not None and order["user_id"] != customer_id):
        raise NotFoundError("order not found")
    return order


async def _set_status(
    uow: UnitOfWork, order_id: UUID, current: OrderStatus, target: OrderStatus,
    actor: UUID | None, note: str, changes: dict[str, Any],
) -> None:  # fmt: skip
    assignments = ["status = %s"]
    params: list[Any] = [str(target)]
    for column, value in changes.items():
        if value is _NOW:
            assignments.append(f"{column} = now()")
        else:
            assignments.append(f"{column} = %s")
            params.append(value)
    await uow.connection.execute(
        f"UPDATE orders SET {', '.join(assignments)} WHERE id = %s", (*params, order_id)
    )
    await uow.connection.execute(
        "INSERT INTO order_events (tenant_id, order_id, from_status, to_status, note, actor_user_id)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (uow.tenant_id, order_id, str(current), str(target), note, actor),
    )
    await uow.append_event(
        Aggregate.ORDER, order_id, order_moved_to(target), {"from": str(current), "to": str(target)}
    )


async def _restock(uow: UnitOfWork, order_id: UUID, actor: UUID | None) -> list[UUID]:
    cursor = await uow.connection.execute(
        "SELECT product_id, variant_id, quantity FROM order_items WHERE order_id = %s"
        " ORDER BY (variant_id IS NOT NULL), coalesce(variant_id, product_id)",
        (order_id,),
    )
    items = await cursor.fetchall()
    for product_id, variant_id, quantity in items:
        await record_movement(
            uow, product_id, variant_id, quantity, "in", reason="order cancelled",
            reference_id=order_id, created_by=actor,
        )  # fmt: skip
    return [product_id for product_id, _, _ in items]
