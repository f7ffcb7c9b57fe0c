"""Carts in Redis (the spec's `cart:` keys): lines only; prices and totals are always
recomputed from PostgreSQL, so a stale price in a cart is never charged."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from polyshop.adapters.postgres import Database
from polyshop.adapters.redis import Keys, RedisClient, digest, redis_unavailable, scripts
from polyshop.domain.catalog import is_for_sale, line_name
from polyshop.domain.errors import NotFoundError, ValidationError
from polyshop.domain.money import ZERO
from polyshop.services.checkout import CheckoutRequest, CheckoutService, OrderLine, PlacedOrder


@dataclass(frozen=True, slots=True)
class CartLine:
    product_id: UUID
    variant_id: UUID | None
    quantity: int
    added_at: str
    name: str | None
    sku: str | None
    unit_price: Decimal | None
    line_total: Decimal | None
    available: bool


@dataclass(frozen=True, slots=True)
class CartView:
    owner: str
    lines: list[CartLine]
    subtotal: Decimal
    currency: str
    item_count: int


def user_cart(user_id: UUID) -> str:
    return f"user:{user_id}"


def anonymous_cart(token: str) -> str:
    """An anonymous visitor's cart, named by a digest of their cart token."""
    if not 16 <= len(token) <= 256:
        raise ValidationError("the cart token is not valid", field="cart_token")
    return f"anon:{digest(token)[:40]}"


# How long an emptied cart remembers the order it became: long enough for a double click.
_PLACED_MEMORY_MS = 60_000


def _cart_key(owner: str, lines: list[CartLine]) -> str:
    """The idempotency key of checking out these exact cart lines: the same cart (same items,
    quantities and times added) gives the same key; a cart filled again later, another."""
    content = sorted(
        f"{line.product_id}:{line.variant_id or '-'}:{line.quantity}:{line.added_at}"
        for line in lines
    )
    return "cart:" + digest(owner + "|" + "|".join(content))[:48]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _field(product_id: UUID, variant_id: UUID | None) -> str:
    return f"{product_id}:{variant_id or '-'}"


class CartService:
    def __init__(
        self, client: RedisClient, database: Database, checkout: CheckoutService, *,
        ttl_seconds: int, max_lines: int, max_quantity: int,
    ) -> None:  # fmt: skip
        self._client = client
        self._database = database
        self._checkout = checkout
        self._ttl_ms = ttl_seconds * 1000
        self._max_lines = max_lines
        self._max_quantity = max_quantity
        self._add = client.register_script(scripts.ADD_TO_CART)
        self._merge = client.register_script(scripts.MERGE_CARTS)

    async def add(
        self, tenant_id: UUID, owner: str, product_id: UUID, quantity: int = 1,
        variant_id: UUID | None = None,
    ) -> CartView:  # fmt: skip
        if not isinstance(quantity, int) or quantity < 1:
            raise ValidationError("quantity must be at least 1", field="quantity")
        await self._ensure_for_sale(tenant_id, product_id, variant_id)
        line = {"productId": str(product_id), "variantId": str(variant_id) if variant_id else None,
                "quantity": 0, "addedAt": datetime.now(UTC).isoformat(timespec="milliseconds")}  # fmt: skip
        with redis_unavailable("your cart"):
            result = await self._add(
                keys=[Keys(tenant_id).cart(owner)],
                args=[_field(product_id, variant_id), quantity, self._max_quantity,
                      self._max_lines, self._ttl_ms, json.dumps(line)],
            )  # fmt: skip
        if result == -1:
            raise ValidationError(f"a cart holds at most {self._max_lines} lines", field="lines")
        if result == -2:
            raise ValidationError(
                f"at most {self._max_quantity} of one item per cart", field="quantity"
            )
        return await self.view(tenant_id, owner)

    async def set_quantity(
        self, tenant_id: UUID, owner: str, product_id: UUID, quantity: int,
        variant_id: UUID | None = None,
    ) -> CartView:  # fmt: skip
        if not isinstance(quantity, int) or not 0 <= quantity <= self._max_quantity:
            raise ValidationError(
                f"quantity must be from 0 to {self._max_quantity}", field="quantity"
            )
        key, field = Keys(tenant_id).cart(owner), _field(product_id, variant_id)
        with redis_unavailable("your cart"):
            raw = await self._client.hget(key, field)
            if raw is None:
                raise NotFoundError("that item is not in the cart")
            if quantity == 0:
                await self._client.hdel(key, field)
            else:
                line = json.loads(raw)
                line["quantity"] = quantity
                await self._client.hset(key, field, json.dumps(line))
                await self._client.pexpire(key, self._ttl_ms)
        return await self.view(tenant_id, owner)

    async def remove(
        self, tenant_id: UUID, owner: str, product_id: UUID, variant_id: UUID | None = None
    ) -> CartView:
        return await self.set_quantity(tenant_id, owner, product_id, 0, variant_id)

    async def view(self, tenant_id: UUID, owner: str) -> CartView:
        with redis_unavailable("your cart"):
            raw = await self._client.hgetall(Keys(tenant_id).cart(owner))
        stored = [json.loads(value) for value in raw.values()]
        return await self._priced(tenant_id, owner, stored)

    async def merge(self, tenant_id: UUID, anonymous_owner: str, into_owner: str) -> CartView:
        """At login: the anonymous cart's lines join the user's cart (quantities add up)."""
        keys = Keys(tenant_id)
        with redis_unavailable("your cart"):
            await self._merge(
                keys=[keys.cart(anonymous_owner), keys.cart(into_owner)],
                args=[self._max_quantity, self._max_lines, self._ttl_ms],
            )
        return await self.view(tenant_id, into_owner)

    async def checkout(
        self, tenant_id: UUID, customer_id: UUID, *, shipping_address: Mapping[str, Any],
        billing_address: Mapping[str, Any] | None = None, shipping_method: str | None = None,
        discount_code: str | None = None, payment_method: str = "card",
        idempotency_key: str | None = None,
    ) -> PlacedOrder:  # fmt: skip
        """Order what is in the user's cart at current prices; the ordered lines leave the cart
        only after the order has committed, so a failed checkout loses nothing.

        Without an idempotency key the cart's own lines make one (a double-clicked "Place
        order" sends the same cart twice): concurrent checkouts of one cart place one order,
        and the others answer with it (or a 409 while its payment is still running)."""
        owner = user_cart(customer_id)
        if idempotency_key is not None:
            placed = await self._checkout.previous_order(tenant_id, idempotency_key, customer_id)
            if placed is not None:
                return placed  # a retry after success: the cart is already empty
        cart = await self.view(tenant_id, owner)
        if not cart.lines and idempotency_key is None:
            with redis_unavailable("your cart"):
                last_key = await self._client.get(Keys(tenant_id).cart_placed(owner))
            if last_key is not None:
                placed = await self._checkout.previous_order(
                    tenant_id, _text(last_key), customer_id
                )
                if placed is not None:
                    return placed  # the twin of a checkout that has just emptied this cart
        if not cart.lines:
            raise ValidationError("the cart is empty", field="cart")
        unavailable = [
            line.sku or str(line.product_id) for line in cart.lines if not line.available
        ]
        if unavailable:
            raise ValidationError(
                f"no longer for sale: {', '.join(unavailable)}; remove them first", field="cart"
            )
        key = idempotency_key or _cart_key(owner, cart.lines)
        request = CheckoutRequest(
            customer_id=customer_id,
            lines=tuple(OrderLine(l.product_id, l.quantity, l.variant_id) for l in cart.lines),  # noqa: E741
            shipping_address=shipping_address,
            billing_address=billing_address,
            shipping_method=shipping_method,
            discount_code=discount_code,
            payment_method=payment_method,
        )
        placed = await self._checkout.place_order(tenant_id, request, idempotency_key=key)
        with redis_unavailable("emptying your cart"):
            keys = Keys(tenant_id)
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hdel(
                    keys.cart(owner),
                    *(_field(line.product_id, line.variant_id) for line in cart.lines),
                )
                pipe.set(keys.cart_placed(owner), key, px=_PLACED_MEMORY_MS)
                await pipe.execute()
        return placed

    async def _ensure_for_sale(
        self, tenant_id: UUID, product_id: UUID, variant_id: UUID | None
    ) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT p.status, (v.id IS NOT NULL), v.is_active,"
                " EXISTS (SELECT 1 FROM product_variants x WHERE x.tenant_id = p.tenant_id"
                " AND x.product_id = p.id)"
                " FROM products p LEFT JOIN product_variants v"
                " ON v.tenant_id = p.tenant_id AND v.product_id = p.id AND v.id = %s"
                " WHERE p.id = %s",
                (variant_id, product_id),
            )
            row = await cursor.fetchone()
        if row is None or (variant_id is not None and not row[1]):
            raise NotFoundError("product not found")
        status, _, variant_active, has_variants = row
        if not is_for_sale(status, None if variant_id is None else bool(variant_active)):
            raise ValidationError("that product is not for sale", field="product_id")
        if has_variants and variant_id is None:
            raise ValidationError("choose a variant", field="variant_id")

    async def _priced(self, tenant_id: UUID, owner: str, stored: list[dict[str, Any]]) -> CartView:
        product_ids = [line["productId"] for line in stored]
        variant_ids = [line["variantId"] for line in stored if line["variantId"]]
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT id, name, sku, price, status FROM products WHERE id = ANY(%s::uuid[])",
                (product_ids,),
            )
            products = {str(r[0]): r[1:] for r in await cursor.fetchall()}
            cursor = await uow.connection.execute(
                "SELECT id, title, sku, price, is_active FROM product_variants"
                " WHERE id = ANY(%s::uuid[])",
                (variant_ids,),
            )
            variants = {str(r[0]): r[1:] for r in await cursor.fetchall()}
            cursor = await uow.connection.execute(
                "SELECT currency FROM tenants WHERE id = %s", (tenant_id,)
            )
            (currency,) = await cursor.fetchone()  # type: ignore[misc]
        lines: list[CartLine] = []
        subtotal = ZERO
        for line in sorted(
            stored, key=lambda e: (e["addedAt"], e["productId"], e["variantId"] or "")
        ):
            product = products.get(line["productId"])
            variant = variants.get(line["variantId"]) if line["variantId"] else None
            name = sku = price = None
            available = False
            if product is not None:
                name, sku, price = product[0], product[1], product[2]
                if not line["variantId"]:
                    available = is_for_sale(product[3])
                else:
                    available = is_for_sale(product[3], variant is not None and bool(variant[3]))
                    if variant is not None:
                        name, sku, price = line_name(product[0], variant[0]), variant[1], variant[2]
            total = price * line["quantity"] if available and price is not None else None
            if total is not None:
                subtotal += total
            lines.append(
                CartLine(
                    UUID(line["productId"]),
                    UUID(line["variantId"]) if line["variantId"] else None,
                    int(line["quantity"]),
                    line["addedAt"],
                    name,
                    sku,
                    price,
                    total,
                    available,
                )
            )
        return CartView(owner, lines, subtotal, currency, sum(l.quantity for l in lines))  # noqa: E741
