"""The main journeys over HTTP, as a shop's people would walk them."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx

from polyshop import bootstrap
from tests.support.actors import ADDRESS, PASSWORD, Actor, new_customer, new_shop, ok


async def test_admin_builds_a_catalog_customer_buys_reviews_admin_ships_and_refunds(
    http: httpx.AsyncClient, app: bootstrap.Container
) -> None:
    slug, admin = await new_shop(http)

    # The admin builds a catalog.
    clothing = ok(await admin.call("POST", "/categories", json={"name": "Clothing"}), 201)
    shirts = ok(
        await admin.call(
            "POST", "/categories", json={"name": "Shirts", "parent_id": clothing["id"]}
        ),
        201,
    )
    brand = ok(await admin.call("POST", "/brands", json={"name": "Northwind"}), 201)
    vendor = ok(await admin.call("POST", "/vendors", json={"name": "House Label"}), 201)
    tee = ok(await admin.call("POST", "/products", json={
        "name": "Linen Tee", "sku": "TEE", "price": "25.00", "category_id": shirts["id"],
        "vendor_id": vendor["id"], "brand_id": brand["id"], "description": "A linen tee shirt",
        "variants": [
            {"title": "S", "sku": "TEE-S", "price": "25.00", "options": {"size": "S"}, "initial_stock": 5},
            {"title": "M", "sku": "TEE-M", "price": "27.50", "options": {"size": "M"}, "initial_stock": 5, "position": 1},
        ],
        "attributes": [{"name": "material", "value": "linen"}],
        "images": [{"url": "https://cdn.example.com/tee.jpg", "alt_text": "tee"}],
    }), 201)  # fmt: skip
    scarf = ok(await admin.call("POST", "/products", json={
        "name": "Wool Scarf", "sku": "SCARF", "price": "40.00", "category_id": clothing["id"],
        "vendor_id": vendor["id"], "initial_stock": 3,
    }), 201)  # fmt: skip
    anonymous = Actor(http, slug)
    # Drafts are invisible to shoppers until published.
    assert (await anonymous.call("GET", f"/products/{tee['id']}")).status_code == 404
    for product in (tee, scarf):
        ok(
            await admin.call("PUT", f"/products/{product['id']}/status", json={"status": "active"}),
            204,
        )
    ok(
        await admin.call(
            "POST", f"/products/{scarf['id']}/stock", json={"change": 7, "reason": "delivery"}
        )
    )
    assert ok(await admin.call("GET", f"/products/{scarf['id']}/stock"))["level"] == 10

    # A visitor browses: the category includes its subtree, search finds by text, pages link on.
    listing = ok(
        await anonymous.call("GET", "/products", params={"category_id": clothing["id"], "limit": 1})
    )
    assert len(listing["items"]) == 1 and listing["next"]
    following = ok(await http.get(listing["next"], headers={"X-Tenant": slug}))
    assert {listing["items"][0]["id"], following["items"][0]["id"]} == {tee["id"], scarf["id"]}
    assert following["next"] is None
    found = ok(await anonymous.call("GET", "/products", params={"q": "linen"}))
    assert [p["id"] for p in found["items"]] == [tee["id"]]
    page = await anonymous.call("GET", f"/products/{tee['id']}")
    body = ok(page)
    assert body["price"] == "25.00" and [v["sku"] for v in body["variants"]] == ["TEE-S", "TEE-M"]
    assert "cost_price" not in body
    unchanged = await anonymous.call(
        "GET", f"/products/{tee['id']}", headers={"If-None-Match": page.headers["ETag"]}
    )
    assert unchanged.status_code == 304 and unchanged.content == b""

    # Before signing in, the visitor's cart lives under a cart token; it joins the account's.
    cart_token = uuid.uuid4().hex + uuid.uuid4().hex
    anonymous.headers["X-Cart-Token"] = cart_token
    ok(await anonymous.call("POST", "/cart/items", json={"product_id": scarf["id"], "quantity": 1}))
    registered = await new_customer(http, slug)
    email = ok(await registered.call("GET", "/me"))["user"]["email"]
    ok(await registered.call("POST", "/auth/logout"), 204)
    customer = await Actor(http, slug, headers={"X-Cart-Token": cart_token}).sign_in(email)
    customer.headers.clear()
    cart = ok(await customer.call("POST", "/cart/items", json={
        "product_id": tee["id"], "variant_id": body["variants"][1]["id"], "quantity": 2}))  # fmt: skip
    assert {(line["sku"], line["quantity"]) for line in cart["lines"]} == {
        ("SCARF", 1),
        ("TEE-M", 2),
    }
    assert cart["subtotal"] == "95.00"

    # Checkout is idempotent: a retry with the same key returns the same order.
    payment = {"shipping_address": ADDRESS, "shipping_method": "standard"}
    key = {"Idempotency-Key": f"checkout-{uuid.uuid4()}"}
    checkout = await customer.call("POST", "/cart/checkout", json=payment, headers=key)
    placed = ok(checkout, 201)
    assert checkout.headers["Location"] == f"/orders/{placed['id']}"
    assert placed["total"] == str(Decimal("95.00") + Decimal("9.50") + Decimal("5.00"))
    retried = await customer.call("POST", "/cart/checkout", json=payment, headers=key)
    assert retried.status_code == 201 and retried.json()["id"] == placed["id"]
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert ok(await customer.call("GET", "/cart"))["lines"] == []
    mine = ok(await customer.call("GET", "/orders"))
    assert [o["id"] for o in mine["items"]] == [placed["id"]]

    # The admin fulfils the order; the customer sees its history.
    order_path = f"/orders/{placed['id']}"
    for target, extra in (
        ("processing", {}),
        ("shipped", {"carrier": "DHL", "tracking_number": "DH1"}),
        ("delivered", {}),
    ):
        ok(await admin.call("POST", f"{order_path}/status/{target}", json=extra), 204)
    order = ok(await customer.call("GET", order_path))
    assert order["status"] == "delivered" and order["tracking_number"] == "DH1"
    assert order["total_amount"] == placed["total"]  # money stays a decimal string

    # The document store's read paths, once the relay has caught up.
    await app.relay.run_until_idle()
    document = ok(await anonymous.call("GET", "/storefront/products/linen-tee"))
    assert document["name"] == "Linen Tee" and "costPrice" not in document["pricing"]
    listed = ok(await anonymous.call("GET", f"/storefront/categories/{shirts['id']}/products"))
    assert [d["slug"] for d in listed] == ["linen-tee"]
    history = ok(await customer.call("GET", "/me/order-history"))
    assert [h["orderNumber"] for h in history] == [placed["order_number"]]
    accounts = ok(await admin.call("GET", "/customers", params={"role": "customer"}))
    assert [a["email"] for a in accounts["items"]] == [email]
    assert [e["to_status"] for e in order["events"]][-3:] == ["processing", "shipped", "delivered"]

    # The customer reviews what was delivered; the admin approves; everyone sees it.
    review = ok(
        await customer.call(
            "POST", f"/products/{tee['id']}/reviews", json={"rating": 5, "title": "Great"}
        ),
        201,
    )
    assert review["is_verified_purchase"] and not review["is_approved"]
    assert ok(await anonymous.call("GET", f"/products/{tee['id']}/reviews")) == []
    queue = ok(await admin.call("GET", "/reviews/pending"))
    assert [r["id"] for r in queue] == [review["id"]]
    ok(await admin.call("PUT", f"/reviews/{review['id']}/approval"), 204)
    assert [r["id"] for r in ok(await anonymous.call("GET", f"/products/{tee['id']}/reviews"))] == [
        review["id"]
    ]
    assert ok(await anonymous.call("GET", f"/products/{tee['id']}/rating"))["average"] == "5.00"

    # The admin refunds part, retries it (paid once), then the rest: the order is refunded.
    refund_key = {"Idempotency-Key": f"refund-{uuid.uuid4()}"}
    for _ in range(2):
        refund = ok(
            await admin.call(
                "POST", f"{order_path}/refunds", json={"amount": "10.00"}, headers=refund_key
            ),
            201,
        )
        assert refund["amount"] == "10.00"
    payments = ok(await admin.call("GET", f"{order_path}/payments"))
    assert [p["refunded_amount"] for p in payments] == ["10.00"]
    rest = ok(
        await admin.call(
            "POST", f"{order_path}/refunds", json={}, headers={"Idempotency-Key": "rest"}
        ),
        201,
    )
    assert rest["amount"] == str(Decimal(placed["total"]) - Decimal("10.00"))
    final = ok(await customer.call("GET", order_path))
    assert (final["status"], final["payment_status"]) == ("refunded", "refunded")


async def test_vendor_staff_manage_their_own_products_and_see_their_order_lines(
    http: httpx.AsyncClient,
) -> None:
    slug, admin = await new_shop(http)
    category = ok(await admin.call("POST", "/categories", json={"name": "All"}), 201)
    ours = ok(await admin.call("POST", "/vendors", json={"name": "Ours"}), 201)
    theirs = ok(await admin.call("POST", "/vendors", json={"name": "Theirs"}), 201)
    email = f"staff-{uuid.uuid4().hex[:6]}@example.com"
    ok(await admin.call("POST", "/staff", json={
        "email": email, "password": PASSWORD, "first_name": "Val", "last_name": "Endor",
        "role": "vendor_staff", "vendor_id": ours["id"]}), 201)  # fmt: skip
    staff = await Actor(http, slug).sign_in(email)

    # Staff create for their own vendor (without saying it) and cannot create for another.
    own = ok(await staff.call("POST", "/products", json={
        "name": "Mug", "sku": "MUG", "price": "8.00", "category_id": category["id"], "initial_stock": 9}), 201)  # fmt: skip
    refused = await staff.call("POST", "/products", json={
        "name": "Cup", "sku": "CUP", "price": "8.00", "category_id": category["id"], "vendor_id": theirs["id"]})  # fmt: skip
    assert refused.status_code == 403
    other = ok(await admin.call("POST", "/products", json={
        "name": "Pot", "sku": "POT", "price": "30.00", "category_id": category["id"],
        "vendor_id": theirs["id"], "initial_stock": 9}), 201)  # fmt: skip
    # Another vendor's product looks absent to them, draft or not, for reads and changes alike.
    assert (await staff.call("GET", f"/products/{other['id']}")).status_code == 404
    assert (
        await staff.call("PATCH", f"/products/{other['id']}", json={"name": "Mine"})
    ).status_code == 404
    ok(await staff.call("PATCH", f"/products/{own['id']}", json={"name": "Big Mug"}), 204)
    assert ok(await staff.call("GET", f"/products/{own['id']}"))["name"] == "Big Mug"
    listing = ok(await staff.call("GET", "/products", params={"status": "draft"}))
    assert [p["id"] for p in listing["items"]] == [own["id"]]

    for product in (own, other):
        ok(
            await admin.call("PUT", f"/products/{product['id']}/status", json={"status": "active"}),
            204,
        )
    customer = await new_customer(http, slug)
    order = ok(await customer.call("POST", "/orders", json={
        "lines": [{"product_id": own["id"], "quantity": 2}, {"product_id": other["id"], "quantity": 1}],
        "shipping_address": ADDRESS}), 201)  # fmt: skip
    lines = ok(await staff.call("GET", "/vendor/order-lines"))["items"]
    assert [(line["order_id"], line["sku"], line["quantity"]) for line in lines] == [
        (order["id"], "MUG", 2)
    ]
    assert "user_id" not in lines[0] and "shipping_address" not in lines[0]
    # Staff do not read whole orders (addresses, payments): that is for the shop's admins.
    assert (await staff.call("GET", f"/orders/{order['id']}")).status_code == 403


async def test_content_pages_are_edited_by_admins_and_read_by_everyone(
    http: httpx.AsyncClient,
) -> None:
    slug, admin = await new_shop(http)
    page = ok(
        await admin.call("POST", "/content/pages", json={"title": "Returns", "content": "30 days"}),
        201,
    )
    visitor = Actor(http, slug)
    assert (await visitor.call("GET", "/pages/returns")).status_code == 404
    ok(
        await admin.call(
            "PUT", f"/content/pages/{page['id']}/status", json={"status": "published"}
        ),
        204,
    )
    ok(await admin.call("PATCH", f"/content/pages/{page['id']}", json={"content": "60 days"}), 204)
    assert ok(await visitor.call("GET", "/pages/returns"))["content"] == "60 days"
    assert [p["slug"] for p in ok(await visitor.call("GET", "/pages"))] == ["returns"]
