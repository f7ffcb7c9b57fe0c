"""Payments after the reservation: confirm or release a pending payment, and the reconciler that
resolves what a crashed or timed-out process left pending.

A payment is `pending` from the checkout's first transaction until one transaction either
confirms it (payment `completed`, order `confirmed`, `order.placed` in the outbox) or releases it
(payment `declined`/`failed`, the stock back with ledger rows, order `cancelled` with its reason).
Both lock the order row first, then the stock rows in the one lock order (products, then
variants, each in id order), and act only while the payment is still pending: whichever of the
checkout and the reconciler gets there first decides, the other finds nothing to do.

The reconciler asks the gateway, by our reference, what happened to each payment still pending
past its deadline (`payments.expires_at`): approved, it confirms; anything else, it voids the
reference (so a charge still on its way takes no money) and releases. The deadline is longer
than the gateway timeout, so a live checkout has always finished its call by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from polyshop.adapters.postgres import Database
from polyshop.codec import dumps
from polyshop.domain.errors import NotFoundError, PaymentFailedError, ValidationError
from polyshop.domain.events import Aggregate, Event
from polyshop.domain.orders import OrderStatus, PaymentRecordStatus, RefundStatus
from polyshop.ports import PaymentGateway, PaymentOutcome, PaymentResult

log = logging.getLogger(__name__)

RECONCILE_LOCK = "polyshop.payments.reconcile"


GATEWAY_NAMES = ("test", "stripe")


def check_payment_settings(shop_settings: Mapping[str, Any]) -> None:
    """A shop's `payments` settings: `{"gateway": "test" | "stripe"}` (optional)."""
    payments = shop_settings.get("payments")
    if payments is None:
        return
    if not isinstance(payments, Mapping) or set(payments) - {"gateway"}:
        raise ValidationError('payments must be {"gateway": ...}', field="payments")
    if payments.get("gateway") not in GATEWAY_NAMES:
        raise ValidationError(
            f"payments.gateway must be one of {', '.join(GATEWAY_NAMES)}", field="payments.gateway"
        )


class Gateways:
    """The configured gateways by name; a shop picks one with `settings.payments.gateway`."""

    def __init__(self, gateways: Iterable[PaymentGateway], default: str = "test") -> None:
        self._by_name = {gateway.name: gateway for gateway in gateways}
        self.default = default

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, name: str) -> PaymentGateway:
        gateway = self._by_name.get(name)
        if gateway is None:
            raise PaymentFailedError(f"the payment gateway {name!r} is not configured")
        return gateway

    async def aclose(self, *, keep: PaymentGateway | None = None) -> None:
        """Close the gateways' connections (not `keep`'s: its owner closes it)."""
        for gateway in self._by_name.values():
            close = getattr(gateway, "aclose", None) if gateway is not keep else None
            if close is not None:
                await close()

    def name_for(self, shop_settings: Mapping[str, Any]) -> str:
        payments = shop_settings.get("payments")
        name = payments.get("gateway") if isinstance(payments, Mapping) else None
        return str(name) if name else self.default


# -- confirm and release -------------------------------------------------------------------

_LOCK_PAYMENT = """
    SELECT o.status, p.status, p.order_id FROM payments p
      JOIN orders o ON o.tenant_id = p.tenant_id AND o.id = p.order_id
     WHERE p.id = %s FOR UPDATE OF o, p
"""
_LOCK_ORDER_PRODUCTS = """
    SELECT p.id FROM products p
     WHERE p.id IN (SELECT i.product_id FROM order_items i JOIN payments x
                      ON x.tenant_id = i.tenant_id AND x.order_id = i.order_id
                     WHERE x.id = %s AND i.variant_id IS NULL)
     ORDER BY p.id FOR UPDATE
"""
_LOCK_ORDER_VARIANTS = """
    SELECT v.id FROM product_variants v
     WHERE v.id IN (SELECT i.variant_id FROM order_items i JOIN payments x
                      ON x.tenant_id = i.tenant_id AND x.order_id = i.order_id
                     WHERE x.id = %s)
     ORDER BY v.id FOR UPDATE
"""

# The statuses in _CONFIRM and _RELEASE (and checkout's _RESERVE_ORDER) stay SQL literals: they
# are `domain.orders` enums' values, which the columns' CHECK constraints hold them to.
_CONFIRM = """
WITH paid AS (
    UPDATE payments SET status = 'completed', gateway_transaction_id = %(transaction)s,
           gateway_response = %(response)s, processed_at = now(), expires_at = NULL
     WHERE id = %(payment)s AND status = 'pending'
    RETURNING order_id
), confirmed AS (
    UPDATE orders o SET status = 'confirmed', payment_status = 'paid'
      FROM paid WHERE o.id = paid.order_id AND o.status = 'pending'
    RETURNING o.id, o.order_number, o.user_id, o.total_amount, o.discount_amount, o.currency
), history AS (
    INSERT INTO order_events (tenant_id, order_id, from_status, to_status, note, actor_user_id)
    SELECT %(tenant)s, id, 'pending', 'confirmed', %(note)s, user_id FROM confirmed
), event AS (
    INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
    SELECT %(tenant)s, %(aggregate)s, c.id::text, %(placed)s, jsonb_build_object(
               'order_id', c.id, 'order_number', c.order_number, 'customer_id', c.user_id,
               'total', c.total_amount::text, 'discount', c.discount_amount::text,
               'currency', c.currency,
               'lines', (SELECT jsonb_agg(jsonb_build_object(
                                    'product_id', i.product_id, 'variant_id', i.variant_id,
                                    'quantity', i.quantity, 'unit_price', i.unit_price::text)
                                ORDER BY i.sku)
                           FROM order_items i WHERE i.order_id = c.id))
      FROM confirmed c
)
SELECT count(*) FROM confirmed
"""

_RELEASE = """
WITH unpaid AS (
    UPDATE payments SET status = %(payment_status)s, gateway_response = %(response)s,
           processed_at = now(), expires_at = NULL
     WHERE id = %(payment)s AND status = 'pending'
    RETURNING order_id
), cancelled AS (
    UPDATE orders o SET status = 'cancelled', payment_status = 'failed'
      FROM unpaid WHERE o.id = unpaid.order_id AND o.status = 'pending'
    RETURNING o.id, o.user_id
), lines AS (
    SELECT i.order_id, i.product_id, i.variant_id, i.quantity
      FROM order_items i JOIN cancelled c ON i.order_id = c.id
), product_stock AS (
    UPDATE products p SET inventory_quantity = p.inventory_quantity + l.quantity
      FROM lines l WHERE l.variant_id IS NULL AND p.id = l.product_id
), variant_stock AS (
    UPDATE product_variants v SET inventory_quantity = v.inventory_quantity + l.quantity
      FROM lines l WHERE v.id = l.variant_id
), ledger AS (
    INSERT INTO inventory_transactions (tenant_id, product_id, variant_id, type, quantity, reason,
                                        reference_id)
    SELECT %(tenant)s, product_id, variant_id, 'in', quantity, 'order released', order_id
      FROM lines
), history AS (
    INSERT INTO order_events (tenant_id, order_id, from_status, to_status, note, actor_user_id)
    SELECT %(tenant)s, id, 'pending', 'cancelled', %(reason)s, NULL FROM cancelled
), event AS (
    INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
    SELECT %(tenant)s, %(aggregate)s, id::text, %(cancelled)s,
           jsonb_build_object('from', 'pending', 'to', 'cancelled', 'reason', %(reason)s)
      FROM cancelled
), keyed AS (
    -- The key is spent: a retry with it runs again (with another card, say), while a retry
    -- that was waiting on this attempt learns its outcome from `response`.
    UPDATE idempotency_keys k SET expires_at = now(), response = %(key_response)s
      FROM cancelled c WHERE k.scope = 'checkout' AND k.resource_id = c.id
)
SELECT count(*) FROM cancelled
"""


# Plain strings: the statements are prepared, and an enum has no psycopg dumper of its own.
_EVENT_NAMES = {
    "aggregate": str(Aggregate.ORDER),
    "placed": str(Event.ORDER_PLACED),
    "cancelled": str(Event.ORDER_CANCELLED),
}


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a pending payment ended: `order_status` is the order's status afterwards, and
    `changed` says whether this call was the one that moved it."""

    order_status: str
    payment_status: str
    changed: bool


async def confirm_payment(
    database: Database, tenant_id: UUID, payment_id: UUID, result: PaymentResult, *,
    note: str = "placed and paid",
) -> Resolution:  # fmt: skip
    """Record an approved charge: payment completed, order confirmed, `order.placed` sent."""
    async with database.unit_of_work(tenant_id) as uow:
        connection = uow.connection
        locked = await connection.execute(_LOCK_PAYMENT, (payment_id,))
        order_status, payment_status, _ = await _row(locked)
        if order_status != OrderStatus.PENDING or payment_status != PaymentRecordStatus.PENDING:
            return Resolution(order_status, payment_status, changed=False)
        async with connection.pipeline():
            await connection.execute(
                _CONFIRM,
                {"tenant": tenant_id, "payment": payment_id, "note": note, **_EVENT_NAMES,
                 "transaction": result.transaction_id,
                 "response": Jsonb(result.response, dumps)},
            )  # fmt: skip
            await uow.commit()
    return Resolution(OrderStatus.CONFIRMED, PaymentRecordStatus.COMPLETED, changed=True)


async def release_payment(
    database: Database, tenant_id: UUID, payment_id: UUID, outcome: PaymentOutcome,
    response: dict[str, Any], *, reason: str,
) -> Resolution:  # fmt: skip
    """Record a charge that took no money: payment declined or failed, stock back, order
    cancelled with `reason`."""
    payment_status = (
        PaymentRecordStatus.DECLINED
        if outcome is PaymentOutcome.DECLINED
        else PaymentRecordStatus.FAILED
    )
    async with database.unit_of_work(tenant_id) as uow:
        connection = uow.connection
        async with connection.pipeline():
            locked = await connection.execute(_LOCK_PAYMENT, (payment_id,))
            await connection.execute(_LOCK_ORDER_PRODUCTS, (payment_id,))
            await connection.execute(_LOCK_ORDER_VARIANTS, (payment_id,))
        order_status, current, _ = await _row(locked)
        if order_status != OrderStatus.PENDING or current != PaymentRecordStatus.PENDING:
            return Resolution(order_status, current, changed=False)
        async with connection.pipeline():
            await connection.execute(
                _RELEASE,
                {"tenant": tenant_id, "payment": payment_id, "payment_status": payment_status,
                 **_EVENT_NAMES,
                 "response": Jsonb(response, dumps), "reason": reason,
                 "key_response": Jsonb({"outcome": payment_status})},
            )  # fmt: skip
            await uow.commit()
    return Resolution(OrderStatus.CANCELLED, payment_status, changed=True)


async def _row(cursor: psycopg.AsyncCursor[Any]) -> tuple[Any, ...]:
    row = await cursor.fetchone()
    if row is None:
        raise PaymentFailedError("the payment is not recorded")
    return tuple(row)


# -- webhooks ------------------------------------------------------------------------------


async def handle_webhook(
    database: Database, gateways: Gateways, tenant_id: UUID, gateway_name: str, payload: bytes,
    signature: str | None,
) -> str:  # fmt: skip
    """Verify a gateway's event and apply it to our pending payment: `applied`, `duplicate`
    (this event id was handled before) or `ignored` (not about a payment of ours). Applying
    is idempotent (confirm and release only act on a pending payment), so an event handled
    twice by a race changes nothing more."""
    try:
        gateway = gateways.get(gateway_name)
    except PaymentFailedError:
        raise NotFoundError(f"no payment gateway {gateway_name!r}") from None
    parse = getattr(gateway, "parse_webhook", None)
    if parse is None:
        raise NotFoundError(f"the {gateway_name} gateway sends no webhooks")
    event = parse(payload, signature)
    async with database.unit_of_work(tenant_id) as uow:
        cursor = await uow.connection.execute(
            "SELECT 1 FROM payment_webhook_events WHERE gateway = %s AND event_id = %s",
            (gateway_name, event.id),
        )
        if await cursor.fetchone() is not None:
            return "duplicate"
    outcome = "ignored"
    payment_id = _uuid_or_none(event.reference)
    if payment_id is not None and event.result is not None:
        async with database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT 1 FROM payments WHERE id = %s AND payment_gateway = %s",
                (payment_id, gateway_name),
            )
            ours = await cursor.fetchone() is not None
        if ours and event.result.outcome is PaymentOutcome.APPROVED:
            await confirm_payment(database, tenant_id, payment_id, event.result,
                                  note="paid (gateway webhook)")  # fmt: skip
            outcome = "applied"
        elif ours:
            await gateway.void(reference=str(payment_id))
            await release_payment(
                database, tenant_id, payment_id, event.result.outcome, event.result.response,
                reason="payment declined",
            )  # fmt: skip
            outcome = "applied"
    async with database.unit_of_work(tenant_id) as uow:
        await uow.connection.execute(
            "INSERT INTO payment_webhook_events (tenant_id, gateway, event_id, event_type)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (tenant_id, gateway_name, event.id[:255], event.type[:100]),
        )
        await uow.commit()
    return outcome


def _uuid_or_none(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


# -- the reconciler ------------------------------------------------------------------------


@dataclass(slots=True)
class ReconcileReport:
    confirmed: int = 0
    released: int = 0
    refunds_settled: int = 0
    refunds_failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def resolved(self) -> int:
        return self.confirmed + self.released + self.refunds_settled + self.refunds_failed


class RefundSettler(Protocol):
    """What the reconciler needs from the refund flow (OrderService implements it)."""

    async def settle_refund(self, tenant_id: UUID, refund_id: UUID) -> str: ...


class Reconciler:
    """Resolves payments and refunds left pending past their deadline, one process at a time
    (a PostgreSQL advisory lock per pass), in `polyshop payments reconcile` and in the
    background of `polyshop serve`."""

    def __init__(
        self, database: Database, gateways: Gateways, refunds: RefundSettler | None = None,
        *, batch_size: int = 100,
    ) -> None:  # fmt: skip
        self._database = database
        self._gateways = gateways
        self._refunds = refunds
        self._batch_size = batch_size

    async def reconcile_payment(self, tenant_id: UUID, payment_id: UUID) -> Resolution:
        """Ask the gateway what happened to this pending payment and record it."""
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT status, payment_gateway FROM payments WHERE id = %s", (payment_id,)
            )
            status, gateway_name = await _row(cursor)
        if status != PaymentRecordStatus.PENDING:
            return Resolution("", status, changed=False)
        gateway = self._gateways.get(gateway_name)
        reference = str(payment_id)
        result = await gateway.retrieve(reference=reference)
        if result is not None and result.outcome is PaymentOutcome.APPROVED:
            return await confirm_payment(
                self._database, tenant_id, payment_id, result, note="paid (reconciled)"
            )
        # Nothing taken, or nothing we know of: make sure nothing will be, then release.
        await gateway.void(reference=reference)
        outcome = result.outcome if result is not None else PaymentOutcome.FAILED
        reason = "payment declined" if outcome is PaymentOutcome.DECLINED else "reservation expired"
        response = {"reconciled": True, **(result.response if result is not None else {})}
        return await release_payment(
            self._database, tenant_id, payment_id, outcome, response, reason=reason
        )

    async def due(self) -> list[tuple[UUID, str, UUID]]:
        async with self._database.unit_of_work(None) as uow:
            cursor = await uow.connection.execute(
                "SELECT tenant_id, kind, id FROM payments_due(%s)", (self._batch_size,)
            )
            return [(row[0], row[1], row[2]) for row in await cursor.fetchall()]

    async def reconcile_due(self) -> ReconcileReport:
        """One pass over everything due (in batches), without taking the cross-process lock."""
        report = ReconcileReport()
        seen: set[UUID] = set()
        while True:
            batch = [item for item in await self.due() if item[2] not in seen]
            if not batch:
                return report
            for tenant_id, kind, item_id in batch:
                seen.add(item_id)
                try:
                    if kind == "payment":
                        resolution = await self.reconcile_payment(tenant_id, item_id)
                        if resolution.changed and resolution.order_status == OrderStatus.CONFIRMED:
                            report.confirmed += 1
                        elif resolution.changed:
                            report.released += 1
                    elif self._refunds is not None:
                        outcome = await self._refunds.settle_refund(tenant_id, item_id)
                        if outcome == RefundStatus.SETTLED:
                            report.refunds_settled += 1
                        elif outcome == RefundStatus.FAILED:
                            report.refunds_failed += 1
                except Exception as exc:  # one bad payment must not stop the others
                    log.warning("reconcile %s %s: %s", kind, item_id, exc)
                    report.errors.append(f"{kind} {item_id}: {type(exc).__name__}: {exc}")

    async def run_once(self, url: str, *, wait: bool = True) -> ReconcileReport | None:
        """A pass under the cross-process lock; without `wait`, None when another process
        holds it."""
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as locker:
            if wait:
                await locker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                                     (RECONCILE_LOCK,))  # fmt: skip
            else:
                cursor = await locker.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (RECONCILE_LOCK,)
                )
                if (await cursor.fetchone()) != (True,):
                    return None
            # The lock is the session's: closing the connection releases it, even on a crash.
            return await self.reconcile_due()

    async def run(self, url: str, stop: asyncio.Event, *, interval_seconds: float = 5.0) -> None:
        """Reconcile every `interval_seconds` until `stop` is set (a background task)."""
        while not stop.is_set():
            try:
                report = await self.run_once(url, wait=False)
                if report is not None and (report.resolved or report.errors):
                    log.info("reconciled %s (%d errors)", report, len(report.errors))
            except (psycopg.Error, OSError) as exc:
                log.warning("reconciler: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
