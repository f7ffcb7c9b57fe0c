"""Redis killed in the middle of a test: reads fall back to PostgreSQL and health says so;
session and cart writes fail with a clear 'temporarily unavailable'; nothing in PostgreSQL is
lost; and everything recovers when Redis is back."""

from __future__ import annotations

import pytest

from polyshop import bootstrap
from polyshop.domain.errors import StoreUnavailableError
from polyshop.services.carts import user_cart
from tests.support.redis_servers import RedisServer
from tests.support.shops import make_shop


async def test_redis_dies_and_comes_back(fragile: tuple[bootstrap.Container, RedisServer]) -> None:
    app, server = fragile
    shop = await make_shop(app)
    t, owner, product = shop.tenant_id, user_cart(shop.customer_id), shop.products["speaker"]
    await app.carts.add(t, owner, product, 1)
    session = await app.auth.login(t, "ann@example.com", "correct horse battery staple")
    cached = await app.catalog_reads.product_page(t, product)

    server.kill()

    # Reads fall back to PostgreSQL, and health reports Redis down.
    assert await app.catalog_reads.product_page(t, product) == cached
    assert app.catalog_reads.products.degraded
    statuses = {s.store: s.ok for s in await bootstrap.check_stores(app.urls)}
    assert statuses == {"postgres": True, "redis": False}
    # Writes that need Redis say so clearly.
    with pytest.raises(StoreUnavailableError, match="your cart is temporarily unavailable"):
        await app.carts.add(t, owner, product, 1)
    with pytest.raises(StoreUnavailableError, match="signing in is temporarily unavailable"):
        await app.auth.login(t, "ann@example.com", "correct horse battery staple")
    with pytest.raises(StoreUnavailableError, match="redis"):
        await app.sessions.get(t, session.token)
    # The limiter lets traffic through rather than take the shop down.
    await app.rate_limiter.admit(t, "203.0.113.9", "GET /products")
    # PostgreSQL is untouched and keeps serving the commerce core.
    placed = await app.checkout.place_order(t, shop.request(shop.line("cable")))
    assert (await app.orders.get(t, placed.id))["status"] == "confirmed"

    server.start()  # same port, empty (no persistence in this test server)

    view = await app.carts.add(t, owner, product, 2)
    assert [(line.sku, line.quantity) for line in view.lines] == [("SPEAKER", 2)]
    again = await app.auth.login(t, "ann@example.com", "correct horse battery staple")
    assert await app.sessions.get(t, again.token) is not None
    await app.catalog_reads.product_page(t, product)
    assert not app.catalog_reads.products.degraded
    statuses = {s.store: s.ok for s in await bootstrap.check_stores(app.urls)}
    assert statuses == {"postgres": True, "redis": True}
