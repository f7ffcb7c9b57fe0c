"""Checkout over HTTP: a cart is checked out once however often "Place order" is clicked, and
counts are strict integers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from polyshop import bootstrap
from polyshop.adapters.payments import TestPaymentGateway
from polyshop.api import create_app
from tests import conftest as base
from tests.support.actors import ADDRESS, PLATFORM, Actor, new_customer, new_shop, ok
from tests.support.actors import RULES as API_RULES
from tests.support.shops import RULES, Shop, make_shop, stock_and_ledger


async def _kettle(admin: Actor, stock: int = 10) -> dict[str, Any]:
    category = ok(await admin.call("POST", "/categories", json={"name": "All"}), 201)
    vendor = ok(await admin.call("POST", "/vendors", json={"name": "V"}), 201)
    return ok(await admin.call("POST", "/products", json={
        "name": "Kettle", "sku": "KETTLE", "price": "30.00", "category_id": category["id"],
        "vendor_id": vendor["id"], "status": "active", "initial_stock": stock}), 201)  # fmt: skip


async def test_five_concurrent_checkouts_of_one_cart_place_one_order_and_charge_once(
    http: httpx.AsyncClient, app: bootstrap.Container
) -> None:
    slug, admin = await new_shop(http)
    product = await _kettle(admin)
    customer = await new_customer(http, slug)
    ok(
        await customer.call(
            "POST", "/cart/items", json={"product_id": product["id"], "quantity": 2}
        )
    )
    body = {"shipping_address": ADDRESS}
    # A double-clicked "Place order", five times over, without an Idempotency-Key.
    responses = await asyncio.gather(
        *(customer.call("POST", "/cart/checkout", json=body) for _ in range(5))
    )
    assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
    placed = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(placed) == 1
    (order_id,) = placed
    assert [o["id"] for o in ok(await customer.call("GET", "/orders"))["items"]] == [order_id]
    assert ok(await admin.call("GET", f"/products/{product['id']}/stock"))["level"] == 8
    payments = ok(await admin.call("GET", f"/orders/{order_id}/payments"))
    assert [(p["amount"], p["status"]) for p in payments] == [("71.00", "completed")]
    # The gateway's own book holds one charge for this order, and no other for the shop.
    assert isinstance(app.gateway, TestPaymentGateway)
    charged = [r for r in app.gateway.records() if r.reference == payments[0]["id"]]
    assert [(r.status, str(r.amount)) for r in charged] == [("approved", "71.00")]
    assert ok(await customer.call("GET", "/cart"))["lines"] == []
    # The cart filled again is a new order, not a replay of the first.
    ok(await customer.call("POST", "/cart/items", json={"product_id": product["id"]}))
    again = ok(await customer.call("POST", "/cart/checkout", json=body), 201)
    assert again["id"] != order_id


@pytest.mark.parametrize("quantity", [True, "2", 2.0, 1.5, None])
async def test_quantities_are_strict_integers(http: httpx.AsyncClient, quantity: Any) -> None:
    slug, admin = await new_shop(http)
    product = await _kettle(admin)
    customer = await new_customer(http, slug)
    line = {"product_id": product["id"], "quantity": quantity}
    for method, path, body in (
        ("POST", "/orders", {"lines": [line], "shipping_address": ADDRESS}),
        ("POST", "/cart/items", line),
        ("PUT", "/cart/items", line),
    ):
        response = await customer.call(method, path, json=body)
        assert response.status_code == 422, (path, response.text)
        problem = response.json()
        assert problem["code"] == "validation"
        assert any(e["field"].endswith("quantity") for e in problem["errors"]), problem
    assert ok(await customer.call("GET", "/orders"))["items"] == []
    assert ok(await admin.call("GET", f"/products/{product['id']}/stock"))["level"] == 10


WEBHOOK_SECRET = "whsec_polyshop_test"


@pytest.fixture
async def stripe_shop(
    urls: bootstrap.StoreUrls, stripe_mock: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, bootstrap.Container, Shop]]:
    """A shop that pays with Stripe (stripe-mock), served by an app with webhooks configured."""
    settings = base.test_settings(
        stripe_api_key="sk_test_polyshop", stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=stripe_mock.url,
    )  # fmt: skip
    async with bootstrap.application(settings, urls) as container:
        shop = await make_shop(container)
        await container.tenants.configure(
            shop.tenant_id, {**RULES, "payments": {"gateway": "stripe"}}
        )
        transport = httpx.ASGITransport(app=create_app(container=container))
        async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
            yield client, container, shop


def _signed(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """Stripe's scheme: t=<unix time>,v1=<hex HMAC-SHA256 of "t.payload" with the secret>."""
    timestamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _event(kind: str, reference: UUID, event_id: str | None = None) -> bytes:
    return json.dumps({
        "id": event_id or f"evt_{uuid.uuid4().hex}", "object": "event", "type": kind,
        "data": {"object": {"id": f"pi_{uuid.uuid4().hex[:16]}", "object": "payment_intent",
                            "metadata": {"reference": str(reference)}}},
    }).encode()  # fmt: skip


async def _pending_order(container: bootstrap.Container, shop: Shop) -> tuple[UUID, UUID]:
    reservation = await container.checkout._reserve(
        shop.tenant_id, shop.request(shop.line("speaker")), None
    )
    return reservation.order.id, reservation.payment_id


async def _status(container: bootstrap.Container, shop: Shop, order_id: UUID) -> tuple[str, str]:
    order = await container.orders.get(shop.tenant_id, order_id)
    return order["status"], order["payments"][0]["status"]


async def test_a_signed_webhook_confirms_the_pending_payment_once(
    stripe_shop: tuple[httpx.AsyncClient, bootstrap.Container, Shop], admin_url: str
) -> None:
    client, container, shop = stripe_shop
    with psycopg.connect(admin_url) as db:
        (slug,) = db.execute("SELECT slug FROM tenants WHERE id = %s", (shop.tenant_id,)).fetchone()  # type: ignore[misc]
    order_id, payment_id = await _pending_order(container, shop)
    assert await _status(container, shop, order_id) == ("pending", "pending")
    payload = _event("payment_intent.succeeded", payment_id, "evt_once")
    url, tenant = "/payments/webhooks/stripe", {"X-Tenant": slug}

    async def send(body: bytes, signature: str | None) -> httpx.Response:
        headers = {**tenant, "content-type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return await client.post(url, content=body, headers=headers)

    # Tampered, unsigned, signed with another secret, or an old signature replayed: 400s.
    tampered = payload.replace(b"succeeded", b"succeedes")
    stale = _signed(payload, at=int(time.time()) - 3600)
    for body, signature in ((tampered, _signed(payload)), (payload, None),
                            (payload, _signed(payload, "whsec_other")), (payload, stale)):  # fmt: skip
        refused = await send(body, signature)
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "invalid_signature"
    assert await _status(container, shop, order_id) == ("pending", "pending")

    accepted = ok(await send(payload, _signed(payload)))
    assert accepted == {"received": True, "outcome": "applied"}
    assert await _status(container, shop, order_id) == ("confirmed", "completed")
    # The same event again (Stripe retries): nothing more happens.
    assert ok(await send(payload, _signed(payload)))["outcome"] == "duplicate"
    # A failure event for a payment that is already paid changes nothing either.
    failed = _event("payment_intent.payment_failed", payment_id)
    ok(await send(failed, _signed(failed)))
    assert await _status(container, shop, order_id) == ("confirmed", "completed")


async def test_a_payment_failed_webhook_releases_the_reservation(
    stripe_shop: tuple[httpx.AsyncClient, bootstrap.Container, Shop], admin_url: str
) -> None:
    client, container, shop = stripe_shop
    with psycopg.connect(admin_url) as db:
        (slug,) = db.execute("SELECT slug FROM tenants WHERE id = %s", (shop.tenant_id,)).fetchone()  # type: ignore[misc]
    order_id, payment_id = await _pending_order(container, shop)
    payload = _event("payment_intent.payment_failed", payment_id)
    headers = {"X-Tenant": slug, "Stripe-Signature": _signed(payload),
               "content-type": "application/json"}  # fmt: skip
    assert (
        ok(await client.post("/payments/webhooks/stripe", content=payload, headers=headers))[
            "outcome"
        ]
        == "applied"
    )
    assert await _status(container, shop, order_id) == ("cancelled", "declined")
    stock = {sku: q for sku, q, _ in await stock_and_ledger(container, shop.tenant_id)}
    assert stock["SPEAKER"] == 10


async def test_a_shop_chooses_its_gateway_in_its_settings(http: httpx.AsyncClient) -> None:

    slug, admin = await new_shop(http)
    product = await _kettle(admin)
    customer = await new_customer(http, slug)
    url = f"/platform/tenants/{slug}/settings"
    refused = await http.put(
        url, headers=PLATFORM, json={**API_RULES, "payments": {"gateway": "x"}}
    )
    assert refused.status_code == 422, refused.text
    # Stripe chosen, but this server has no Stripe key: the order is refused before any stock
    # is reserved (502), and nothing is written.
    ok(
        await http.put(
            url, headers=PLATFORM, json={**API_RULES, "payments": {"gateway": "stripe"}}
        ),
        204,
    )
    order = {"lines": [{"product_id": product["id"], "quantity": 1}], "shipping_address": ADDRESS}
    failed = await customer.call("POST", "/orders", json=order)
    assert (failed.status_code, failed.json()["code"]) == (502, "payment_failed")
    assert ok(await admin.call("GET", "/orders"))["items"] == []
    assert ok(await admin.call("GET", f"/products/{product['id']}/stock"))["level"] == 10
    ok(
        await http.put(url, headers=PLATFORM, json={**API_RULES, "payments": {"gateway": "test"}}),
        204,
    )
    ok(await customer.call("POST", "/orders", json=order), 201)
