"""The API with Redis killed mid-way: catalog reads keep working from PostgreSQL, whatever
needs a session or sign-in answers 503 with Retry-After, readiness says which store is down,
and everything recovers when Redis is back."""

from __future__ import annotations

import httpx

from polyshop import bootstrap
from polyshop.api import create_app
from tests.support.actors import Actor, new_shop, ok
from tests.support.redis_servers import RedisServer


async def test_redis_down_over_http(fragile: tuple[bootstrap.Container, RedisServer]) -> None:
    app, server = fragile
    transport = httpx.ASGITransport(app=create_app(container=app))
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as http:
        slug, admin = await new_shop(http)
        category = ok(await admin.call("POST", "/categories", json={"name": "All"}), 201)
        vendor = ok(await admin.call("POST", "/vendors", json={"name": "V"}), 201)
        ok(await admin.call("POST", "/products", json={
            "name": "Lamp", "sku": "LAMP", "price": "20.00", "category_id": category["id"],
            "vendor_id": vendor["id"], "status": "active"}), 201)  # fmt: skip
        visitor = Actor(http, slug)
        email = f"admin@{slug}.test"

        server.kill()

        listing = ok(await visitor.call("GET", "/products"))
        assert [p["sku"] for p in listing["items"]] == ["LAMP"]
        for refused in (
            await visitor.call("POST", "/auth/login", json={"email": email, "password": "x" * 12}),
            await admin.call("GET", "/me"),
        ):
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "store_unavailable"
            assert refused.headers["Retry-After"] == "5"
        ready = await http.get("/health/ready")
        assert ready.status_code == 503
        assert {s["store"]: s["ok"] for s in ready.json()["stores"]} == {
            "postgres": True,
            "redis": False,
        }

        server.start()

        await visitor.sign_in(email)
        assert ok(await visitor.call("GET", "/me"))["user"]["email"] == email
        assert (await http.get("/health/ready")).status_code == 200
