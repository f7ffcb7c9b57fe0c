"""Orders after checkout: status changes with history, cancellation with restock, refunds.

Every change locks the order row first, so two admins cancelling or refunding the same order
are serialised and money is never refunded twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row

from polyshop.adapters.postgres import Database, UnitOfWork
from polyshop.domain.errors import (
    ConflictError,
    NotFoundError,
    PaymentDeclinedError,
    PaymentFailedError,
    ValidationError,
)
from polyshop.domain.events import Aggregate, Event, order_moved_to
from polyshop.domain.money import ZERO, parse_money
from polyshop.domain.orders import (
    RESTOCK_ON_CANCEL,
    OrderStatus,
    check_transition,
    payment_status_after_refund,
)
from polyshop.ports import NoListener, PaymentGateway, PaymentOutcome, ProductChangeListener
from polyshop.services import _idempotency as idempotency
from polyshop.services._inventory_ledger import record_movement


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
        self, database: Database, gateway: PaymentGateway,
        listener: ProductChangeListener | None = None,
    ) -> None:  # fmt: skip
        self._database = database
        self._gateway = gateway
        self._listener: ProductChangeListener = listener or NoListener()

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
        Pass the last (created_at, id) for the next page."""
        if not 1 <= limit <= 100:
            raise ValidationError("limit must be between 1 and 100", field="limit")
        conditions: list[str] = []
        params: list[Any] = []
        if customer_id is not None:
            conditions.append("user_id = %s")
            params.append(customer_id)
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
            {"shipping_status": "shipped", "shipped_at": _NOW, "shipping_carrier": carrier,
             "tracking_number": tracking_number},
        )  # fmt: skip

    async def deliver(self, tenant_id: UUID, order_id: UUID, *, actor: UUID | None = None) -> None:
        await self._advance(
            tenant_id, order_id, OrderStatus.DELIVERED, actor, "delivered",
            {"shipping_status": "delivered", "delivered_at": _NOW},
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
        """Cancel before shipping: the goods go back into stock and any payment is refunded.
        With `customer_id`, only that customer's order (another's is not found)."""
        async with self._database.unit_of_work(tenant_id) as uow:
            order = await _lock_order(uow, order_id, customer_id)
            current = OrderStatus(order["status"])
            check_transition(current, OrderStatus.CANCELLED)
            changes: dict[str, Any] = {}
            restocked: list[UUID] = []
            if current in RESTOCK_ON_CANCEL:
                restocked = await _restock(uow, order_id, actor)
            if order["payment_status"] in ("paid", "partially_refunded"):
                await self._refund_payments(uow, order_id, None, order["currency"])
                changes["payment_status"] = "refunded"
            await _set_status(uow, order_id, current, OrderStatus.CANCELLED, actor, reason, changes)
            await uow.commit()
        await self._listener.products_changed(tenant_id, restocked, listings=False)

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
        async with self._database.unit_of_work(tenant_id) as uow:
            if idempotency_key is not None and not await idempotency.claim(
                uow, "refund", idempotency_key, fingerprint
            ):
                raise idempotency.KeyTaken(fingerprint)
            order = await _lock_order(uow, order_id)
            current = OrderStatus(order["status"])
            if order["payment_status"] not in ("paid", "partially_refunded"):
                raise ConflictError(f"nothing to refund: the payment is {order['payment_status']}")
            cursor = await uow.connection.execute(
                "SELECT coalesce(sum(amount), 0), coalesce(sum(refunded_amount), 0) FROM payments"
                " WHERE order_id = %s AND status IN ('completed', 'refunded')",
                (order_id,),
            )
            paid, refunded = await cursor.fetchone()  # type: ignore[misc]
            remaining = paid - refunded
            wanted = remaining if amount is None else parse_money(amount, field="amount")
            if wanted <= ZERO:
                raise ValidationError("a refund must be more than zero", field="amount")
            if wanted > remaining:
                raise ValidationError(
                    f"cannot refund {wanted}: only {remaining} is left to refund", field="amount"
                )
            await self._refund_payments(uow, order_id, wanted, order["currency"])
            payment_status = payment_status_after_refund(paid, refunded + wanted)
            if payment_status == "refunded":
                check_transition(current, OrderStatus.REFUNDED)
                await _set_status(
                    uow, order_id, current, OrderStatus.REFUNDED, actor, reason,
                    {"payment_status": payment_status},
                )  # fmt: skip
            else:
                await uow.connection.execute(
                    "UPDATE orders SET payment_status = %s WHERE id = %s",
                    (payment_status, order_id),
                )
                await uow.append_event(Aggregate.ORDER, order_id, Event.ORDER_PARTIALLY_REFUNDED,
                    {"amount": wanted, "payment_status": payment_status},
                )  # fmt: skip
            if idempotency_key is not None:
                await idempotency.record(
                    uow, "refund", idempotency_key, order_id, {"amount": str(wanted)}
                )
            await uow.commit()
        return wanted

    async def _refund_payments(
        self, uow: UnitOfWork, order_id: UUID, amount: Decimal | None, currency: str
    ) -> None:
        """Refund across the order's payments, oldest first; None refunds everything left."""
        cursor = await uow.connection.execute(
            "SELECT id, gateway_transaction_id, amount - refunded_amount FROM payments"
            " WHERE order_id = %s AND status = 'completed' AND refunded_amount < amount"
            " ORDER BY created_at FOR UPDATE",
            (order_id,),
        )
        left = amount
        for payment_id, transaction_id, refundable in await cursor.fetchall():
            portion = refundable if left is None else min(refundable, left)
            if portion <= 0:
                break
            result = await self._gateway.refund(
                transaction_id=transaction_id, amount=portion, currency=currency
            )
            if result.outcome is PaymentOutcome.DECLINED:
                raise PaymentDeclinedError("the gateway declined the refund; nothing changed")
            if result.outcome is not PaymentOutcome.APPROVED:
                raise PaymentFailedError("the gateway could not refund; nothing changed")
            await uow.connection.execute(
                "UPDATE payments SET refunded_amount = refunded_amount + %s,"
                " status = CASE WHEN refunded_amount + %s >= amount THEN 'refunded' ELSE status END"
                " WHERE id = %s",
                (portion, portion, payment_id),
            )
            if left is not None:
                left -= portion


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
