"""Checkout: turn lines into a paid order in durable steps, without ever overselling, and
without holding a lock while the payment gateway thinks.

1. **Reserve** (one transaction, two round trips): claim the idempotency key; read the tenant's
   rules and the customer; lock the stock rows of every line, products first then variants,
   each in id order (so two checkouts over the same items cannot deadlock); price the order
   from current data (pure domain code); write the order as `pending` (awaiting payment), its
   items, the stock decrements with their ledger rows, the payment as `pending` with its
   deadline, the history and the outbox event; commit. The stock is now reserved.
2. **Charge** the shop's gateway with our payment id as the reference (its idempotency key),
   with no transaction open and no row locked, bounded by the gateway timeout.
3. **Confirm** (payment completed, order confirmed, `order.placed`) or **release** (stock back,
   order cancelled with its reason, payment declined or failed) in one transaction:
   `services.payments.confirm_payment` / `release_payment`.

A process that dies between the steps leaves a pending payment; the reconciler
(`services.payments.Reconciler`) asks the gateway about it once its deadline has passed and
confirms or releases it, so no money is taken without an order and no stock leaks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from polyshop.adapters.postgres import Database, domain_errors
from polyshop.codec import dumps
from polyshop.domain.catalog import is_for_sale, line_name
from polyshop.domain.errors import (
    ConflictError,
    InsufficientStockError,
    NotFoundError,
    PaymentDeclinedError,
    PaymentFailedError,
    ValidationError,
)
from polyshop.domain.events import Aggregate, Event
from polyshop.domain.orders import OrderStatus, PaymentRecordStatus, PaymentStatus
from polyshop.domain.pricing import PricedLine, PricingRules, Quote, quote
from polyshop.faults import crash_point
from polyshop.ports import (
    NoListener,
    PaymentGateway,
    PaymentOutcome,
    PaymentResult,
    ProductChangeListener,
)
from polyshop.services._idempotency import CLAIM_KEY, KeyTaken
from polyshop.services.payments import Gateways, confirm_payment, release_payment

log = logging.getLogger(__name__)

MAX_LINES = 100
MAX_QUANTITY = 10_000
_ADDRESS_FIELDS = ("street", "city", "postalCode", "country")


@dataclass(frozen=True, slots=True)
class OrderLine:
    product_id: UUID
    quantity: int
    variant_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    customer_id: UUID
    lines: tuple[OrderLine, ...]
    shipping_address: Mapping[str, Any]
    billing_address: Mapping[str, Any] | None = None
    shipping_method: str | None = None
    discount_code: str | None = None
    payment_method: str = "card"
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    id: UUID
    order_number: str
    status: str
    payment_status: str
    subtotal: Decimal
    tax: Decimal
    shipping: Decimal
    discount: Decimal
    total: Decimal
    currency: str
    replayed: bool = False


def _address(raw: Mapping[str, Any] | None, field: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{field} is required", field=field)
    missing = [name for name in _ADDRESS_FIELDS if not str(raw.get(name) or "").strip()]
    if missing:
        raise ValidationError(f"{field} needs {', '.join(missing)}", field=field)
    address = {key: value for key, value in raw.items() if isinstance(value, str | None)}
    address["country"] = str(raw["country"]).strip().upper()
    return address


def _merged_lines(lines: tuple[OrderLine, ...]) -> dict[tuple[UUID, UUID | None], int]:
    if not lines:
        raise ValidationError("an order needs at least one line", field="lines")
    if len(lines) > MAX_LINES:
        raise ValidationError(f"an order has at most {MAX_LINES} lines", field="lines")
    merged: dict[tuple[UUID, UUID | None], int] = {}
    for line in lines:
        if not isinstance(line.quantity, int) or not 1 <= line.quantity <= MAX_QUANTITY:
            raise ValidationError(
                f"quantity must be a whole number from 1 to {MAX_QUANTITY}", field="quantity"
            )
        key = (line.product_id, line.variant_id)
        merged[key] = merged.get(key, 0) + line.quantity
    return merged


def request_fingerprint(
    request: CheckoutRequest, quantities: dict[tuple[UUID, UUID | None], int]
) -> str:
    """What must match for a retry with the same idempotency key to be the same request."""
    canonical = {
        "customer": str(request.customer_id),
        "lines": sorted([str(p), str(v) if v else None, q] for (p, v), q in quantities.items()),
        "shipping_address": dict(request.shipping_address),
        "billing_address": dict(request.billing_address or request.shipping_address),
        "shipping_method": request.shipping_method,
        "discount_code": request.discount_code,
        "payment_method": request.payment_method,
        "notes": request.notes,
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


class CheckoutService:
    def __init__(
        self, database: Database, gateways: Gateways | PaymentGateway,
        listener: ProductChangeListener | None = None, *, reservation_seconds: float = 900,
        gateway_timeout_seconds: float = 30, replay_wait_seconds: float | None = None,
    ) -> None:  # fmt: skip
        self._database = database
        self._gateways = gateways if isinstance(gateways, Gateways) else Gateways([gateways])
        self._listener: ProductChangeListener = listener or NoListener()
        self._reservation = timedelta(seconds=reservation_seconds)
        self._gateway_timeout = gateway_timeout_seconds
        # A retry waits for the first attempt's charge at most this long, then answers 409.
        self._replay_wait = (
            gateway_timeout_seconds + 5 if replay_wait_seconds is None else replay_wait_seconds
        )

    async def place_order(
        self, tenant_id: UUID, request: CheckoutRequest, *, idempotency_key: str | None = None
    ) -> PlacedOrder:
        try:
            return await self._place_once(tenant_id, request, idempotency_key)
        except KeyTaken as taken:
            return await self._replay(tenant_id, idempotency_key or "", taken.request_hash)

    async def _place_once(
        self, tenant_id: UUID, request: CheckoutRequest, idempotency_key: str | None
    ) -> PlacedOrder:
        reservation = await self._reserve(tenant_id, request, idempotency_key)
        crash_point("checkout.after_reserve")
        await self._listener.products_changed(tenant_id, reservation.product_ids, listings=False)
        gateway = self._gateways.get(reservation.gateway)
        reference = str(reservation.payment_id)
        try:
            result = await asyncio.wait_for(
                gateway.charge(
                    reference=reference, amount=reservation.order.total,
                    currency=reservation.order.currency, method=request.payment_method,
                ),
                timeout=self._gateway_timeout,
            )  # fmt: skip
        except Exception as exc:  # a timeout or a broken gateway: we do not know what happened
            log.warning("charge %s: %s: %s", reference, type(exc).__name__, exc)
            result = await self._after_unknown_charge(gateway, reference)
        crash_point("checkout.after_charge")
        if result.outcome is PaymentOutcome.APPROVED:
            resolution = await confirm_payment(
                self._database, tenant_id, reservation.payment_id, result
            )
            crash_point("checkout.after_confirm")
            if resolution.order_status != OrderStatus.CONFIRMED:
                # The reconciler released the reservation first (we outlived its deadline):
                # the order is gone, so the money must go back.
                await gateway.void(reference=reference)
                raise PaymentFailedError("the payment took too long; nothing was ordered")
            return reservation.order
        await release_payment(
            self._database, tenant_id, reservation.payment_id, result.outcome, result.response,
            reason=(
                "payment declined" if result.outcome is PaymentOutcome.DECLINED
                else "payment failed"
            ),
        )  # fmt: skip
        await self._listener.products_changed(tenant_id, reservation.product_ids, listings=False)
        if result.outcome is PaymentOutcome.DECLINED:
            raise PaymentDeclinedError("the payment was declined; nothing was ordered")
        raise PaymentFailedError("the payment could not be processed; nothing was ordered")

    async def _after_unknown_charge(self, gateway: PaymentGateway, reference: str) -> PaymentResult:
        """After a charge call that ended without an answer: make sure it takes no money (or
        learn that it did). If the gateway cannot be reached at all, the payment stays pending
        and the reconciler settles it after its deadline."""
        try:
            known = await asyncio.wait_for(
                gateway.retrieve(reference=reference), timeout=self._gateway_timeout
            )
            if known is not None and known.outcome is PaymentOutcome.APPROVED:
                return known
            await asyncio.wait_for(gateway.void(reference=reference), timeout=self._gateway_timeout)
        except Exception as exc:
            log.warning("charge %s left for the reconciler: %s", reference, exc)
            raise PaymentFailedError(
                "the payment gateway did not answer; the order will be confirmed or released"
                " once the gateway does"
            ) from None
        return PaymentResult(PaymentOutcome.FAILED, None, {"error": "gateway_unavailable"})

    async def _reserve(
        self, tenant_id: UUID, request: CheckoutRequest, idempotency_key: str | None
    ) -> _Reservation:
        quantities = _merged_lines(request.lines)
        shipping_address = _address(request.shipping_address, "shipping_address")
        billing_address = _address(
            request.billing_address or request.shipping_address, "billing_address"
        )
        if idempotency_key is not None and not 1 <= len(idempotency_key.strip()) <= 255:
            raise ValidationError(
                "idempotency key must be 1-255 characters", field="idempotency_key"
            )
        fingerprint = request_fingerprint(request, quantities) if idempotency_key else ""

        async with self._database.unit_of_work(tenant_id) as uow:
            connection = uow.connection
            product_ids = sorted({p for (p, v) in quantities if v is None})
            variant_ids = sorted({v for (_, v) in quantities if v is not None})
            with domain_errors():
                async with connection.pipeline():
                    claim = (
                        await connection.execute(
                            CLAIM_KEY, (tenant_id, "checkout", idempotency_key, fingerprint)
                        )
                        if idempotency_key is not None
                        else None
                    )
                    tenant = await connection.execute(
                        "SELECT settings, currency FROM tenants WHERE id = %s", (tenant_id,)
                    )
                    customer = await connection.execute(
                        "SELECT is_active FROM users WHERE id = %s", (request.customer_id,)
                    )
                    products = await connection.execute(_LOCK_PRODUCTS, (product_ids,))
                    variants = await connection.execute(_LOCK_VARIANTS, (variant_ids,))
            if claim is not None and await claim.fetchone() is None:
                raise KeyTaken(fingerprint)
            settings, currency = await _one(tenant, "tenant not found")
            (is_active,) = await _one(customer, "customer not found")
            if not is_active:
                raise ValidationError("this customer account is disabled", field="customer_id")
            gateway_name = self._gateways.name_for(settings)
            self._gateways.get(gateway_name)  # refuse before reserving if it is not configured
            priced = _price_lines(quantities, await products.fetchall(), await variants.fetchall())
            order_quote = quote(
                priced,
                _rules(settings),
                country=shipping_address["country"],
                shipping_method=request.shipping_method,
                discount_code=request.discount_code,
            )

            order_id, payment_id = uuid4(), uuid4()
            params = _write_params(
                tenant_id, order_id, payment_id, request, order_quote, currency,
                shipping_address, billing_address, gateway_name, idempotency_key,
                self._reservation,
            )  # fmt: skip
            with domain_errors():
                async with connection.pipeline():
                    written = await connection.execute(_RESERVE_ORDER, params)
                    await uow.commit()
            (order_number,) = await _one(written, "order was not written")
        order = PlacedOrder(
            id=order_id,
            order_number=order_number,
            status=OrderStatus.CONFIRMED,
            payment_status=PaymentStatus.PAID,
            subtotal=order_quote.subtotal,
            tax=order_quote.tax,
            shipping=order_quote.shipping,
            discount=order_quote.discount,
            total=order_quote.total,
            currency=currency,
        )
        return _Reservation(order, payment_id, gateway_name, {p for p, _ in quantities})

    async def previous_order(
        self, tenant_id: UUID, idempotency_key: str, customer_id: UUID
    ) -> PlacedOrder | None:
        """The customer's order already placed under this key, if any: what a retried cart
        checkout returns once the first attempt has emptied the cart."""
        async with self._database.unit_of_work(tenant_id) as uow:
            async with uow.connection.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(
                    "SELECT " + _PLACED_COLUMNS + " FROM idempotency_keys k JOIN orders o"
                    " ON o.tenant_id = k.tenant_id AND o.id = k.resource_id"
                    " WHERE k.scope = 'checkout' AND k.key = %s AND o.user_id = %s"
                    " AND k.expires_at > now() AND o.status <> 'pending'",
                    (idempotency_key, customer_id),
                )
                row = await cursor.fetchone()
        return None if row is None else PlacedOrder(**row, replayed=True)

    async def _replay(self, tenant_id: UUID, key: str, fingerprint: str) -> PlacedOrder:
        """The same key again: the same order for the same request (once its payment has
        resolved: this waits for it, holding no connection), a conflict for another."""
        deadline = asyncio.get_running_loop().time() + self._replay_wait
        pause = 0.02
        while True:
            async with self._database.unit_of_work(tenant_id) as uow:
                async with uow.connection.cursor(row_factory=dict_row) as cursor:
                    await cursor.execute(
                        "SELECT k.request_hash, k.response, "
                        + _PLACED_COLUMNS
                        + " FROM idempotency_keys k LEFT JOIN orders o"
                        " ON o.tenant_id = k.tenant_id AND o.id = k.resource_id"
                        " WHERE k.scope = 'checkout' AND k.key = %s",
                        (key,),
                    )
                    row = await cursor.fetchone()
            if row is not None and row.pop("request_hash") != fingerprint:
                raise ConflictError("this idempotency key was used for a different request")
            if row is not None and row["id"] is not None and row["status"] != OrderStatus.PENDING:
                outcome = (row.pop("response") or {}).get("outcome")
                cancelled = row["status"] == OrderStatus.CANCELLED
                if cancelled and outcome == PaymentRecordStatus.DECLINED:
                    raise PaymentDeclinedError("the payment was declined; nothing was ordered")
                if cancelled and outcome is not None:
                    raise PaymentFailedError(
                        "the payment could not be processed; nothing was ordered"
                    )
                return PlacedOrder(**row, replayed=True)
            if asyncio.get_running_loop().time() >= deadline:
                raise ConflictError("a request with this idempotency key is still in progress")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.5)


@dataclass(frozen=True, slots=True)
class _Reservation:
    order: PlacedOrder  # as it will read once confirmed
    payment_id: UUID
    gateway: str
    product_ids: set[UUID]


@lru_cache(maxsize=256)
def _parsed_rules(settings_json: str) -> PricingRules:
    return PricingRules.from_stored(json.loads(settings_json))


def _rules(settings: dict[str, Any]) -> PricingRules:
    """The tenant's rules, parsed once per distinct settings document."""
    return _parsed_rules(json.dumps(settings, sort_keys=True))


async def _one(cursor: psycopg.AsyncCursor[Any], missing: str) -> Any:
    row = await cursor.fetchone()
    if row is None:
        raise NotFoundError(missing)
    return row


def _price_lines(
    quantities: dict[tuple[UUID, UUID | None], int],
    product_rows: list[tuple[Any, ...]],
    variant_rows: list[tuple[Any, ...]],
) -> list[PricedLine]:
    """Check every line against the locked rows and price it from them."""
    products = {row[0]: row for row in product_rows}
    variants = {row[0]: row for row in variant_rows}
    priced: list[PricedLine] = []
    shortages: list[tuple[str, int, int]] = []
    for (product_id, variant_id), quantity in quantities.items():
        if variant_id is None:
            row = products.get(product_id)
            if row is None:
                raise NotFoundError(f"product {product_id} not found")
            (
                _,
                name,
                sku,
                price,
                status,
                tracking,
                policy,
                stock,
                taxable,
                shipping,
                has_variants,
            ) = row
            if has_variants:
                raise ValidationError(f"choose a variant of {name}", field="variant_id")
            options: dict[str, Any] = {}
        else:
            row = variants.get(variant_id)
            if row is None or row[1] != product_id:
                raise NotFoundError(f"variant {variant_id} of product {product_id} not found")
            (_, _, title, sku, price, options, policy, stock, active, product_name, status,
             taxable, shipping) = row  # fmt: skip
            if not active:
                raise ValidationError(
                    f"{product_name} ({title}) is not available", field="variant_id"
                )
            name, tracking = line_name(product_name, title), True
        if not is_for_sale(status):
            raise ValidationError(f"{name} is not for sale", field="product_id")
        if tracking and policy == "deny" and stock < quantity:
            shortages.append((sku, quantity, stock))
        priced.append(
            PricedLine(
                product_id, variant_id, name, sku, quantity, price, taxable, shipping, options
            )
        )
    if shortages:
        raise InsufficientStockError(shortages)
    return priced


def _write_params(
    tenant_id: UUID, order_id: UUID, payment_id: UUID, request: CheckoutRequest, q: Quote,
    currency: str, shipping_address: dict[str, Any], billing_address: dict[str, Any],
    gateway: str, idempotency_key: str | None, reservation: timedelta,
) -> dict[str, Any]:  # fmt: skip
    lines = q.lines
    return {
        "tenant": tenant_id,
        "order": order_id,
        "payment": payment_id,
        "user": request.customer_id,
        "subtotal": q.subtotal,
        "tax": q.tax,
        "shipping": q.shipping,
        "discount": q.discount,
        "total": q.total,
        "currency": currency,
        "billing": Jsonb(billing_address),
        "shipping_address": Jsonb(shipping_address),
        "shipping_method": q.shipping_method,
        "notes": request.notes,
        # One JSON document instead of a typed array per column: far less work on both sides.
        "lines": dumps(
            [
                {
                    "product_id": line.product_id,
                    "variant_id": line.variant_id,
                    "name": line.name,
                    "sku": line.sku,
                    "options": line.options,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "total_price": line.total,
                }
                for line in lines
            ]
        ),
        "method": request.payment_method,
        "gateway": gateway,
        "reservation": reservation,
        # Plain strings: the statement is prepared, and an enum has no psycopg dumper of its own.
        "aggregate": str(Aggregate.ORDER),
        "event_type": str(Event.ORDER_RESERVED),
        "key": idempotency_key,
    }


# An order as `PlacedOrder` describes it (a replay answers with the same fields).
_PLACED_COLUMNS = (
    "o.id, o.order_number, o.status, o.payment_status, o.subtotal, o.tax_amount AS tax,"
    " o.shipping_amount AS shipping, o.discount_amount AS discount, o.total_amount AS total,"
    " o.currency"
)

_LOCK_PRODUCTS = """
    SELECT p.id, p.name, p.sku, p.price, p.status, p.inventory_tracking, p.inventory_policy,
           p.inventory_quantity, p.taxable, p.requires_shipping,
           EXISTS (SELECT 1 FROM product_variants v
                    WHERE v.tenant_id = p.tenant_id AND v.product_id = p.id)
      FROM products p WHERE p.id = ANY(%s::uuid[])
     ORDER BY p.id
       FOR UPDATE OF p
"""

_LOCK_VARIANTS = """
    SELECT v.id, v.product_id, v.title, v.sku, v.price, v.options, v.inventory_policy,
           v.inventory_quantity, v.is_active, p.name, p.status, p.taxable, p.requires_shipping
      FROM product_variants v
      JOIN products p ON p.tenant_id = v.tenant_id AND p.id = v.product_id
     WHERE v.id = ANY(%s::uuid[])
     ORDER BY v.id
       FOR UPDATE OF v
"""

_RESERVE_ORDER = """
WITH placed AS (
    INSERT INTO orders (tenant_id, id, order_number, user_id, status, subtotal, tax_amount,
                        shipping_amount, discount_amount, total_amount, currency, payment_status,
                        billing_address, shipping_address, shipping_method, notes)
    VALUES (%(tenant)s, %(order)s, next_order_number(), %(user)s, 'pending', %(subtotal)s,
            %(tax)s, %(shipping)s, %(discount)s, %(total)s, %(currency)s, 'pending', %(billing)s,
            %(shipping_address)s, %(shipping_method)s, %(notes)s)
    RETURNING order_number
), lines AS (
    SELECT * FROM jsonb_to_recordset(%(lines)s::jsonb) AS l(
        product_id uuid, variant_id uuid, name text, sku text, options jsonb, quantity int,
        unit_price numeric, total_price numeric)
), items AS (
    INSERT INTO order_items (tenant_id, order_id, product_id, variant_id, name, sku, options,
                             quantity, unit_price, total_price)
    SELECT %(tenant)s, %(order)s, product_id, variant_id, name, sku, options, quantity,
           unit_price, total_price
      FROM lines
), product_stock AS (
    UPDATE products p SET inventory_quantity = p.inventory_quantity - l.quantity
      FROM lines l WHERE l.variant_id IS NULL AND p.id = l.product_id
), variant_stock AS (
    UPDATE product_variants v SET inventory_quantity = v.inventory_quantity - l.quantity
      FROM lines l WHERE v.id = l.variant_id
), ledger AS (
    INSERT INTO inventory_transactions (tenant_id, product_id, variant_id, type, quantity, reason,
                                        reference_id, created_by)
    SELECT %(tenant)s, product_id, variant_id, 'out', -quantity, 'order', %(order)s, %(user)s
      FROM lines
), payment AS (
    INSERT INTO payments (tenant_id, id, order_id, payment_method, payment_gateway, amount,
                          currency, status, expires_at)
    VALUES (%(tenant)s, %(payment)s, %(order)s, %(method)s, %(gateway)s, %(total)s,
            %(currency)s, 'pending', now() + %(reservation)s)
), history AS (
    INSERT INTO order_events (tenant_id, order_id, from_status, to_status, note, actor_user_id)
    VALUES (%(tenant)s, %(order)s, NULL, 'pending', 'stock reserved, awaiting payment', %(user)s)
), event AS (
    -- The stock moved now: the projector refreshes the products (and the pending order).
    INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
    SELECT %(tenant)s, %(aggregate)s, %(order)s, %(event_type)s,
           jsonb_build_object('order_number', placed.order_number)
      FROM placed
), keyed AS (
    UPDATE idempotency_keys SET resource_id = %(order)s
     WHERE scope = 'checkout' AND key = %(key)s
)
SELECT order_number FROM placed
"""
