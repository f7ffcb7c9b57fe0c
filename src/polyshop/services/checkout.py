"""Checkout: turn lines into a paid order, atomically, without ever overselling.

One transaction, two round trips:

1. (pipelined) claim the idempotency key; read the tenant's rules and the customer; lock the
   stock rows of every line, products first then variants, each in id order, so two checkouts
   over the same items always lock in the same order and cannot deadlock;
2. price the order from current data (pure domain code), charge the gateway, then write the
   order, its items, the stock decrements, the ledger rows, the payment, the status history and
   the outbox event in one statement, and commit in the same round trip.

If anything fails, nothing is written: no order without items, no stock moved without an order.
The gateway is charged while the stock rows are locked; the gateway call is the one place a
slow dependency can hold those locks, which a real gateway bounds with its timeout.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from polyshop.adapters.postgres import Database
from polyshop.adapters.postgres._errors import domain_errors
from polyshop.adapters.postgres._json import dumps
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
from polyshop.domain.pricing import PricedLine, PricingRules, Quote, quote
from polyshop.ports import NoListener, PaymentGateway, PaymentOutcome, ProductChangeListener
from polyshop.services._idempotency import CLAIM_KEY, KeyTaken

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
        self, database: Database, gateway: PaymentGateway,
        listener: ProductChangeListener | None = None,
    ) -> None:  # fmt: skip
        self._database = database
        self._gateway = gateway
        self._listener: ProductChangeListener = listener or NoListener()

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
            priced = _price_lines(quantities, await products.fetchall(), await variants.fetchall())
            order_quote = quote(
                priced,
                _rules(settings),
                country=shipping_address["country"],
                shipping_method=request.shipping_method,
                discount_code=request.discount_code,
            )

            order_id, payment_id = uuid4(), uuid4()
            result = await self._gateway.charge(
                reference=str(payment_id),
                amount=order_quote.total,
                currency=currency,
                method=request.payment_method,
            )
            if result.outcome is PaymentOutcome.DECLINED:
                raise PaymentDeclinedError("the payment was declined; nothing was ordered")
            if result.outcome is not PaymentOutcome.APPROVED:
                raise PaymentFailedError("the payment could not be processed; nothing was ordered")

            params = _write_params(
                tenant_id, order_id, payment_id, request, order_quote, currency,
                shipping_address, billing_address, result.transaction_id,
                result.response, self._gateway.name, idempotency_key,
            )  # fmt: skip
            try:
                with domain_errors():
                    async with connection.pipeline():
                        written = await connection.execute(_WRITE_ORDER, params)
                        await uow.commit()
            except BaseException:
                await self._gateway.void(reference=str(payment_id))
                raise
            (order_number,) = await _one(written, "order was not written")
        await self._listener.products_changed(tenant_id, {p for p, _ in quantities}, listings=False)
        return PlacedOrder(
            id=order_id,
            order_number=order_number,
            status="confirmed",
            payment_status="paid",
            subtotal=order_quote.subtotal,
            tax=order_quote.tax,
            shipping=order_quote.shipping,
            discount=order_quote.discount,
            total=order_quote.total,
            currency=currency,
        )

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
                    " AND k.expires_at > now()",
                    (idempotency_key, customer_id),
                )
                row = await cursor.fetchone()
        return None if row is None else PlacedOrder(**row, replayed=True)

    async def _replay(self, tenant_id: UUID, key: str, fingerprint: str) -> PlacedOrder:
        """The same key again: the same order for the same request, a conflict for another."""
        async with self._database.unit_of_work(tenant_id) as uow:
            async with uow.connection.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(
                    "SELECT k.request_hash, "
                    + _PLACED_COLUMNS
                    + " FROM idempotency_keys k LEFT JOIN orders o"
                    " ON o.tenant_id = k.tenant_id AND o.id = k.resource_id"
                    " WHERE k.scope = 'checkout' AND k.key = %s",
                    (key,),
                )
                row = await cursor.fetchone()
        if row is None or row["id"] is None:
            raise ConflictError("a request with this idempotency key is still in progress")
        if row.pop("request_hash") != fingerprint:
            raise ConflictError("this idempotency key was used for a different request")
        return PlacedOrder(**row, replayed=True)


@lru_cache(maxsize=256)
def _parsed_rules(settings_json: str) -> PricingRules:
    return PricingRules.from_settings(json.loads(settings_json))


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
    transaction_id: str | None,
    gateway_response: dict[str, Any], gateway: str, idempotency_key: str | None,
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
        "transaction": transaction_id,
        "gateway_response": Jsonb(gateway_response, dumps),
        # Plain strings: the statement is prepared, and an enum has no psycopg dumper of its own.
        "aggregate": str(Aggregate.ORDER),
        "event_type": str(Event.ORDER_PLACED),
        "payload": Jsonb(
            {
                "order_id": order_id,
                "customer_id": request.customer_id,
                "total": q.total,
                "currency": currency,
                "discount_code": q.discount_code,
                "lines": [
                    {
                        "product_id": line.product_id,
                        "variant_id": line.variant_id,
                        "quantity": line.quantity,
                        "unit_price": line.unit_price,
                    }
                    for line in lines
                ],
            },
            dumps,
        ),
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

_WRITE_ORDER = """
WITH placed AS (
    INSERT INTO orders (tenant_id, id, order_number, user_id, status, subtotal, tax_amount,
                        shipping_amount, discount_amount, total_amount, currency, payment_status,
                        billing_address, shipping_address, shipping_method, notes)
    VALUES (%(tenant)s, %(order)s, next_order_number(), %(user)s, 'confirmed', %(subtotal)s,
            %(tax)s, %(shipping)s, %(discount)s, %(total)s, %(currency)s, 'paid', %(billing)s,
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
    INSERT INTO payments (tenant_id, id, order_id, payment_method, payment_gateway,
                          gateway_transaction_id, amount, currency, status, gateway_response,
                          processed_at)
    VALUES (%(tenant)s, %(payment)s, %(order)s, %(method)s, %(gateway)s, %(transaction)s, %(total)s,
            %(currency)s, 'completed', %(gateway_response)s, now())
), history AS (
    INSERT INTO order_events (tenant_id, order_id, from_status, to_status, note, actor_user_id)
    VALUES (%(tenant)s, %(order)s, NULL, 'confirmed', 'placed and paid', %(user)s)
), event AS (
    INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
    SELECT %(tenant)s, %(aggregate)s, %(order)s, %(event_type)s,
           %(payload)s || jsonb_build_object('order_number', placed.order_number)
      FROM placed
), keyed AS (
    UPDATE idempotency_keys SET resource_id = %(order)s
     WHERE scope = 'checkout' AND key = %(key)s
)
SELECT order_number FROM placed
"""
