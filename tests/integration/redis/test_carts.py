"""Carts: lines in Redis with a real 7-day expiry, prices always from PostgreSQL, merge at
login, checkout through the commerce core, emptied only after the order commits."""

from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal

import pytest

from polyshop import bootstrap
from polyshop.adapters.payments import DECLINING_METHOD
from polyshop.adapters.redis import Keys
from polyshop.domain.catalog import ProductStatus
from polyshop.domain.errors import NotFoundError, PaymentDeclinedError, ValidationError
from polyshop.services.carts import CartService, anonymous_cart, user_cart
from tests.support.shops import ADDRESS, make_shop


async def test_lines_quantities_limits_and_expiry(rapp: bootstrap.Container) -> None:
    shop = await make_shop(rapp)
    t, carts, owner = shop.tenant_id, rapp.carts, user_cart(shop.customer_id)
    cart = await carts.add(t, owner, shop.products["headphones"], 2)
    cart = await carts.add(t, owner, shop.products["headphones"], 1)
    cart = await carts.add(t, owner, shop.products["shirt"], 1, shop.variants["shirt:white"])
    assert [(l.sku, l.quantity, l.line_total) for l in cart.lines] == [  # noqa: E741
        ("HEADPHONES", 3, Decimal("150.00")), ("SHIRT-WHT", 1, Decimal("22.00")),
    ]  # fmt: skip
    assert (cart.subtotal, cart.currency, cart.item_count) == (Decimal("172.00"), "USD", 4)
    ttl = await rapp.redis.pttl(Keys(t).cart(owner))
    assert 7 * 86400 * 1000 - 5000 < ttl <= 7 * 86400 * 1000
    cart = await carts.set_quantity(t, owner, shop.products["headphones"], 1)
    cart = await carts.remove(t, owner, shop.products["shirt"], shop.variants["shirt:white"])
    assert [(l.sku, l.quantity) for l in cart.lines] == [("HEADPHONES", 1)]  # noqa: E741
    with pytest.raises(ValidationError, match="at most 99"):
        await carts.add(t, owner, shop.products["headphones"], 99)
    with pytest.raises(ValidationError, match="choose a variant"):
        await carts.add(t, owner, shop.products["shirt"])
    with pytest.raises(NotFoundError):
        await carts.add(t, owner, (await make_shop(rapp)).products["cable"])
    with pytest.raises(NotFoundError):
        await carts.set_quantity(t, owner, shop.products["speaker"], 2)


async def test_a_cart_expires_for_real(rapp: bootstrap.Container) -> None:
    shop = await make_shop(rapp)
    short = CartService(rapp.redis, rapp.database, rapp.checkout, ttl_seconds=1, max_lines=5,
                        max_quantity=5)  # fmt: skip
    owner = user_cart(shop.customer_id)
    await short.add(shop.tenant_id, owner, shop.products["cable"])
    await asyncio.sleep(1.3)
    assert (await short.view(shop.tenant_id, owner)).lines == []


async def test_too_many_lines_are_refused(rapp: bootstrap.Container) -> None:
    shop = await make_shop(rapp)
    small = CartService(rapp.redis, rapp.database, rapp.checkout, ttl_seconds=60, max_lines=2,
                        max_quantity=5)  # fmt: skip
    owner = user_cart(shop.customer_id)
    await small.add(shop.tenant_id, owner, shop.products["cable"])
    await small.add(shop.tenant_id, owner, shop.products["speaker"])
    with pytest.raises(ValidationError, match="at most 2 lines"):
        await small.add(shop.tenant_id, owner, shop.products["headphones"])


async def test_anonymous_cart_merges_into_the_users_cart_at_login(
    rapp: bootstrap.Container,
) -> None:
    shop = await make_shop(rapp)
    t, carts = shop.tenant_id, rapp.carts
    anonymous = anonymous_cart(secrets.token_urlsafe(24))
    mine = user_cart(shop.customer_id)
    await carts.add(t, mine, shop.products["cable"], 2)
    await carts.add(t, anonymous, shop.products["cable"], 98)
    await carts.add(t, anonymous, shop.products["speaker"], 1)
    merged = await carts.merge(t, anonymous, mine)
    assert {l.sku: l.quantity for l in merged.lines} == {"CABLE": 99, "SPEAKER": 1}  # noqa: E741
    assert (await carts.view(t, anonymous)).lines == []
    assert not await rapp.redis.exists(Keys(t).cart(anonymous))


async def test_a_price_change_after_adding_is_what_gets_charged(rapp: bootstrap.Container) -> None:
    shop = await make_shop(rapp)
    t, owner = shop.tenant_id, user_cart(shop.customer_id)
    await rapp.carts.add(t, owner, shop.products["speaker"], 2)
    await rapp.catalog.update_product(t, shop.products["speaker"], price="31.50")
    assert (await rapp.carts.view(t, owner)).subtotal == Decimal("63.00")
    placed = await rapp.carts.checkout(t, shop.customer_id, shipping_address=ADDRESS)
    assert placed.subtotal == Decimal("63.00")
    assert (await rapp.carts.view(t, owner)).lines == []


async def test_a_failed_checkout_keeps_the_cart(rapp: bootstrap.Container) -> None:
    shop = await make_shop(rapp)
    t, owner = shop.tenant_id, user_cart(shop.customer_id)
    await rapp.carts.add(t, owner, shop.products["speaker"], 1)
    with pytest.raises(PaymentDeclinedError):
        await rapp.carts.checkout(t, shop.customer_id, shipping_address=ADDRESS,
                                  payment_method=DECLINING_METHOD)  # fmt: skip
    assert [l.sku for l in (await rapp.carts.view(t, owner)).lines] == ["SPEAKER"]  # noqa: E741
    await rapp.catalog.change_status(t, shop.products["speaker"], ProductStatus.INACTIVE)
    cart = await rapp.carts.view(t, owner)
    assert [(l.available, l.line_total) for l in cart.lines] == [(False, None)]  # noqa: E741
    with pytest.raises(ValidationError, match="no longer for sale: SPEAKER"):
        await rapp.carts.checkout(t, shop.customer_id, shipping_address=ADDRESS)
    with pytest.raises(ValidationError, match="empty"):
        await rapp.carts.checkout(t, (await make_shop(rapp)).customer_id, shipping_address=ADDRESS)


async def test_signing_in_brings_the_anonymous_cart_along(rapp: bootstrap.Container) -> None:
    shop = await make_shop(rapp)
    token = secrets.token_urlsafe(24)
    await rapp.carts.add(shop.tenant_id, anonymous_cart(token), shop.products["cable"], 3)
    await rapp.auth.login(shop.tenant_id, "ann@example.com", "correct horse battery staple",
                          anonymous_cart_token=token)  # fmt: skip
    cart = await rapp.carts.view(shop.tenant_id, user_cart(shop.customer_id))
    assert [(line.sku, line.quantity) for line in cart.lines] == [("CABLE", 3)]
    assert (await rapp.carts.view(shop.tenant_id, anonymous_cart(token))).lines == []
