"""The API's contract: problem details, tenancy, sessions, idempotency, ETags, pages, limits."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from polyshop import bootstrap
from polyshop.api import create_app
from polyshop.services.ratelimit import RateLimiter
from tests.support.actors import ADDRESS, PASSWORD, PLATFORM, Actor, new_customer, new_shop, ok


async def _catalog(admin: Actor, *, stock: int = 10) -> dict[str, Any]:
    category = ok(await admin.call("POST", "/categories", json={"name": "All"}), 201)
    vendor = ok(await admin.call("POST", "/vendors", json={"name": "V"}), 201)
    return ok(await admin.call("POST", "/products", json={
        "name": "Kettle", "sku": "KETTLE", "price": "30.00", "category_id": category["id"],
        "vendor_id": vendor["id"], "status": "active", "initial_stock": stock}), 201)  # fmt: skip


def _order(product: dict[str, Any], quantity: int = 1) -> dict[str, Any]:
    return {
        "lines": [{"product_id": product["id"], "quantity": quantity}],
        "shipping_address": ADDRESS,
    }


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["code"] == code and body["title"] and body["type"]
    return body


async def test_the_shop_comes_from_the_header_or_the_host(http: httpx.AsyncClient) -> None:
    slug = f"host-{uuid.uuid4().hex[:8]}"
    host = f"{slug}.shops.example"
    ok(
        await http.post(
            "/platform/tenants",
            headers=PLATFORM,
            json={"slug": slug, "name": "H", "domains": [host]},
        ),
        201,
    )
    assert ok(await http.get("/categories", headers={"Host": host})) == []
    assert ok(await http.get("/categories", headers={"X-Tenant": slug})) == []
    _problem(await http.get("/categories", headers={"X-Tenant": "no-such-shop"}), 404, "not_found")
    _problem(await http.get("/categories", headers={"Host": "unknown.example"}), 404, "not_found")


async def test_validation_errors_name_the_field(http: httpx.AsyncClient) -> None:
    _, admin = await new_shop(http)
    product = await _catalog(admin)
    body = _problem(
        await admin.call("POST", "/products", json={"name": "X", "price": 1.5}), 422, "validation"
    )
    assert {e["field"] for e in body["errors"]} >= {"price", "sku", "category_id"}
    # A rule of the domain (not of the schema) names its field the same way.
    body = _problem(
        await admin.call("PATCH", f"/products/{product['id']}", json={"price": "1.999"}),
        422,
        "validation",
    )
    assert body["errors"][0]["field"] == "price"
    broken = await admin.call(
        "POST", "/categories", headers={"content-type": "application/json"}, json=None
    )
    _problem(broken, 422, "validation")
    raw = await admin.http.post("/categories", content=b"{not json", headers={
        "X-Tenant": admin.slug, "Authorization": f"Bearer {admin.token}", "content-type": "application/json"})  # fmt: skip
    _problem(raw, 422, "validation")
    _problem(await admin.call("GET", "/no/such/route"), 404, "not_found")
    nul = await admin.call("POST", "/categories", json={"name": "bad\u0000name"})
    _problem(nul, 422, "validation")


async def test_sessions_work_by_cookie_and_end_at_logout(
    http: httpx.AsyncClient, api: FastAPI
) -> None:
    slug, _ = await new_shop(http)
    customer = await new_customer(http, slug)
    email = ok(await customer.call("GET", "/me"))["user"]["email"]
    credentials = {"email": email, "password": PASSWORD}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api),
        base_url="https://shop.test",
        headers={"X-Tenant": slug},
    ) as browser:
        login = await browser.post("/auth/login", json=credentials)
        cookie = login.headers["set-cookie"].lower()
        for flag in ("secure", "httponly", "samesite=lax", "path=/"):
            assert flag in cookie
        token = login.json()["token"]
        assert ok(await browser.get("/me"))["user"]["email"] == email  # by the cookie alone
        # Changes by cookie must come from this shop's pages, not another shop's (same site).
        address = {"street_address": "1 Main St", "city": "X", "postal_code": "1", "country": "US"}
        forged = await browser.post(
            "/me/addresses", json=address, headers={"Origin": "https://other-shop.test"}
        )
        _problem(forged, 403, "forbidden")
        ok(
            await browser.post(
                "/me/addresses", json=address, headers={"Origin": "https://shop.test"}
            ),
            201,
        )
        assert len(ok(await browser.get("/me/addresses"))) == 1
        ok(await browser.post("/auth/logout"), 204)
        assert "polyshop_session" not in browser.cookies
        # A stale cookie is no session: pages needing one say 401, browsing and signing in work.
        browser.cookies.set("polyshop_session", token, domain="shop.test")
        _problem(await browser.get("/me"), 401, "unauthorized")
        assert (await browser.get("/categories")).status_code == 200
        ok(await browser.post("/auth/login", json=credentials))
    # A bearer token that is no longer a session is refused outright.
    _problem(
        await http.get("/me", headers={"X-Tenant": slug, "Authorization": f"Bearer {token}"}),
        401,
        "unauthorized",
    )
    wrong = await http.post(
        "/auth/login",
        headers={"X-Tenant": slug},
        json={"email": email, "password": "wrong password!"},
    )
    _problem(wrong, 401, "authentication_failed")
    assert "wrong email or password" in wrong.json()["detail"]


async def test_another_shop_sees_nothing_and_another_customer_cannot_touch_an_order(
    http: httpx.AsyncClient,
) -> None:
    slug, admin = await new_shop(http)
    product = await _catalog(admin)
    customer = await new_customer(http, slug)
    order = ok(await customer.call("POST", "/orders", json=_order(product)), 201)
    _, foreign = await new_shop(http)
    # The other shop's admin, in their own shop, asks for this shop's ids: absent.
    for path in (
        f"/orders/{order['id']}",
        f"/products/{product['id']}",
        f"/products/{product['id']}/stock",
    ):
        _problem(await foreign.call("GET", path), 404, "not_found")
    _problem(await foreign.call("POST", f"/orders/{order['id']}/cancel", json={}), 404, "not_found")
    # Their token in this shop is no session at all.
    _problem(
        await Actor(http, slug, token=foreign.token).call("GET", "/orders"), 401, "unauthorized"
    )
    other = await new_customer(http, slug, "eve")
    _problem(await other.call("POST", f"/orders/{order['id']}/cancel", json={}), 404, "not_found")
    assert ok(await customer.call("GET", f"/orders/{order['id']}"))["status"] == "confirmed"
    ok(
        await customer.call(
            "POST", f"/orders/{order['id']}/cancel", json={"reason": "changed my mind"}
        ),
        204,
    )
    assert ok(await customer.call("GET", f"/orders/{order['id']}"))["status"] == "cancelled"


async def test_concurrent_retries_with_one_idempotency_key_make_one_order(
    http: httpx.AsyncClient,
) -> None:
    slug, admin = await new_shop(http)
    product = await _catalog(admin, stock=100)
    customer = await new_customer(http, slug)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    responses = await asyncio.gather(
        *(customer.call("POST", "/orders", json=_order(product, 2), headers=key) for _ in range(10))
    )
    assert {r.status_code for r in responses} <= {201, 409}
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert len(ok(await customer.call("GET", "/orders"))["items"]) == 1
    assert ok(await admin.call("GET", f"/products/{product['id']}/stock"))["level"] == 98
    # The same key for a different request is a conflict, not a second order.
    _problem(
        await customer.call("POST", "/orders", json=_order(product, 3), headers=key),
        409,
        "conflict",
    )
    order_id = created.pop()
    refund_key = {"Idempotency-Key": "r-1"}
    ok(
        await admin.call(
            "POST", f"/orders/{order_id}/refunds", json={"amount": "5.00"}, headers=refund_key
        ),
        201,
    )
    again = await admin.call(
        "POST", f"/orders/{order_id}/refunds", json={"amount": "6.00"}, headers=refund_key
    )
    _problem(again, 409, "conflict")
    payments = ok(await admin.call("GET", f"/orders/{order_id}/payments"))
    assert [p["refunded_amount"] for p in payments] == ["5.00"]
    _problem(await admin.call("POST", f"/orders/{order_id}/refunds", json={}), 422, "validation")


async def test_a_refused_order_writes_nothing(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    product = await _catalog(admin, stock=2)
    customer = await new_customer(http, slug)
    body = _problem(
        await customer.call("POST", "/orders", json=_order(product, 3)), 409, "insufficient_stock"
    )
    assert body["shortages"] == [{"sku": "KETTLE", "requested": 3, "available": 2}]
    declined = {**_order(product), "payment_method": "card_declined"}
    _problem(await customer.call("POST", "/orders", json=declined), 402, "payment_declined")
    assert ok(await customer.call("GET", "/orders"))["items"] == []
    assert ok(await admin.call("GET", f"/products/{product['id']}/stock"))["level"] == 2


async def test_product_etags_change_with_the_product(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    product = await _catalog(admin)
    visitor = Actor(http, slug)
    first = await visitor.call("GET", f"/products/{product['id']}")
    etag = first.headers["ETag"]
    assert (
        await visitor.call("GET", f"/products/{product['id']}", headers={"If-None-Match": etag})
    ).status_code == 304
    ok(await admin.call("PATCH", f"/products/{product['id']}", json={"price": "31.00"}), 204)
    changed = await visitor.call(
        "GET", f"/products/{product['id']}", headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.json()["price"] == "31.00"


async def test_order_pages_link_to_the_next(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    product = await _catalog(admin, stock=10)
    customer = await new_customer(http, slug)
    placed = [
        ok(await customer.call("POST", "/orders", json=_order(product)), 201)["id"]
        for _ in range(3)
    ]
    first = await customer.call("GET", "/orders", params={"limit": 2})
    page = ok(first)
    assert first.headers["Link"] == f'<{page["next"]}>; rel="next"'
    rest = ok(await customer.call("GET", page["next"]))
    assert [o["id"] for o in page["items"] + rest["items"]] == placed[::-1]
    assert rest["next"] is None
    _problem(await customer.call("GET", "/orders", params={"cursor": "garbage"}), 422, "validation")


async def test_changes_are_rate_limited_with_retry_after(
    app: bootstrap.Container, http: httpx.AsyncClient
) -> None:
    slug, _ = await new_shop(http)
    limited = dataclasses.replace(
        app, rate_limiter=RateLimiter(app.redis, limit=3, window_seconds=60)
    )
    transport = httpx.ASGITransport(app=create_app(container=limited), client=("198.51.100.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
        headers = {"X-Tenant": slug}
        statuses = [
            (
                await client.post(
                    "/auth/login",
                    headers=headers,
                    json={"email": "x@example.com", "password": "nope nope nope"},
                )
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [401, 401, 401]
        refused = await client.post(
            "/auth/login", headers=headers, json={"email": "x@example.com", "password": "nope"}
        )
        _problem(refused, 429, "rate_limited")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Reads are not limited; another client is not affected.
        assert (await client.get("/categories", headers=headers)).status_code == 200
    other = await Actor(http, slug).call(
        "POST", "/auth/login", json={"email": "x@example.com", "password": "nope nope"}
    )
    assert other.status_code == 401


async def test_openapi_documents_problems_and_is_served(http: httpx.AsyncClient) -> None:
    schema = ok(await http.get("/openapi.json"))
    assert schema["components"]["schemas"]["Problem"]["required"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if path.startswith(("/health", "/metrics")):
                continue
            problem = operation["responses"]["4XX"]["content"]
            assert list(problem) == ["application/problem+json"], (method, path)
            assert "422" not in operation["responses"]
    assert (await http.get("/docs")).status_code == 200


async def test_metrics_count_requests_by_route_template(http: httpx.AsyncClient) -> None:
    slug, _ = await new_shop(http)
    await Actor(http, slug).call("GET", f"/products/{uuid.uuid4()}")
    text = (await http.get("/metrics")).text
    assert (
        'polyshop_http_requests_total{method="GET",route="/products/{product_id}",status="404"}'
        in text
    )


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_a_wrong_method_is_a_problem(http: httpx.AsyncClient, method: str) -> None:
    _problem(await http.request(method, "/health/live"), 405, "method_not_allowed")


async def test_an_oversized_body_is_refused_before_it_is_read(http: httpx.AsyncClient) -> None:
    _, admin = await new_shop(http)
    huge = {"name": "x" * 2_000_000}
    _problem(await admin.call("POST", "/categories", json=huge), 413, "content_too_large")

    async def chunks() -> Any:  # no declared length: counted as it arrives
        yield b'{"name": "'
        for _ in range(40):
            yield b"y" * 65_536
        yield b'"}'

    headers = {
        "X-Tenant": admin.slug,
        "Authorization": f"Bearer {admin.token}",
        "content-type": "application/json",
    }
    streamed = await admin.http.post("/categories", content=chunks(), headers=headers)
    _problem(streamed, 413, "content_too_large")
    assert ok(await admin.call("GET", "/categories")) == []


async def test_a_host_only_deployment_ignores_the_header(
    app: bootstrap.Container, http: httpx.AsyncClient
) -> None:
    slug = f"hosted-{uuid.uuid4().hex[:8]}"
    host = f"{slug}.example"
    ok(
        await http.post(
            "/platform/tenants",
            headers=PLATFORM,
            json={"slug": slug, "name": "H", "domains": [host]},
        ),
        201,
    )
    hosted = dataclasses.replace(
        app, settings=app.settings.model_copy(update={"api_tenant_from": "host"})
    )
    transport = httpx.ASGITransport(app=create_app(container=hosted))
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
        assert (await client.get("/categories", headers={"Host": host})).status_code == 200
        # The header names a real shop, but this deployment takes shops from host names only.
        _problem(await client.get("/categories", headers={"X-Tenant": slug}), 404, "not_found")


async def test_listing_filters_and_their_refusals(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    category = ok(await admin.call("POST", "/categories", json={"name": "All"}), 201)
    vendor = ok(await admin.call("POST", "/vendors", json={"name": "V"}), 201)
    for name, price, color in (
        ("Red Mug", "8.00", "red"),
        ("Blue Mug", "12.00", "blue"),
        ("Red Pot", "30.00", "red"),
    ):
        ok(await admin.call("POST", "/products", json={
            "name": name, "sku": name.upper().replace(" ", "-"), "price": price,
            "category_id": category["id"], "vendor_id": vendor["id"], "status": "active",
            "attributes": [{"name": "color", "value": color}]}), 201)  # fmt: skip
    visitor = Actor(http, slug)

    async def names(**params: Any) -> list[str]:
        return [
            p["name"] for p in ok(await visitor.call("GET", "/products", params=params))["items"]
        ]

    assert await names(attribute="color:red", sort="price_asc") == ["Red Mug", "Red Pot"]
    assert await names(min_price="10.00", max_price="20.00") == ["Blue Mug"]
    assert await names(q="mug", sort="name") == ["Blue Mug", "Red Mug"]
    body = _problem(
        await visitor.call("GET", "/products", params={"attribute": "color"}), 422, "validation"
    )
    assert body["errors"][0]["field"] == "attribute"
    body = _problem(
        await visitor.call("GET", "/products", params={"sort": "relevance"}), 422, "validation"
    )
    assert body["errors"][0]["field"] == "sort"
    _problem(
        await visitor.call("GET", "/products", params={"min_price": "1.5e3"}), 422, "validation"
    )
    _problem(await visitor.call("GET", "/products", params={"status": "draft"}), 403, "forbidden")
    customer = await new_customer(http, slug)
    _problem(await customer.call("GET", "/products", params={"status": "draft"}), 403, "forbidden")
    assert ok(await admin.call("GET", "/products", params={"status": "draft"}))["items"] == []
