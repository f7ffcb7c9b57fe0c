"""Checkout over HTTP: a cart is checked out once however often "Place order" is clicked, and
counts are strict integers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from polyshop import bootstrap
from polyshop.adapters.payments import TestPaymentGateway
from tests.api.conftest import ADDRESS, Actor, new_customer, new_shop, ok


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
