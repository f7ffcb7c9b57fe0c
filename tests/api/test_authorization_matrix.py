"""Every endpoint called as every role, anonymously and with another shop's token: each must
get exactly the status in the matrix below.

Routes that take a body are sent a JSON array, which no operation accepts: a caller the route
admits gets 422 (authorisation passed, validation refused), one it does not gets 401/403/404
(authorisation runs first). Body-less changes are aimed at ids that do not exist, so an admitted
caller gets 404 and nothing changes. Reads use real ids, so 200 and 404 mean seen and hidden.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from polyshop import bootstrap
from tests.support.actors import ADDRESS, PASSWORD, PLATFORM, Actor, new_customer, new_shop, ok

ROLES = (
    "anonymous",
    "customer",
    "other_customer",
    "vendor_staff",
    "tenant_admin",
    "platform_admin",
    "other_tenant",
)
GHOST = "00000000-0000-4000-8000-000000000000"

# method path (with {placeholders} filled from the world), then the status for each role above.
MATRIX = """
GET    /health/live                               200 200 200 200 200 200 200
GET    /health/ready                              200 200 200 200 200 200 200
GET    /metrics                                   200 200 200 200 200 200 200
GET    /platform/tenants                          401 401 401 401 401 200 401
POST   /platform/tenants                          401 401 401 401 401 422 401
GET    /platform/tenants/{slug}                   401 401 401 401 401 200 401
PUT    /platform/tenants/{slug}/settings          401 401 401 401 401 422 401
POST   /platform/tenants/{slug}/admins            401 401 401 401 401 422 401
POST   /auth/register                             422 422 422 422 422 422 401
POST   /auth/login                                422 422 422 422 422 422 401
POST   /auth/logout                               401 204 204 204 204 403 401
GET    /auth/sessions                             401 200 200 200 200 403 401
DELETE /auth/sessions                             401 204 204 204 204 403 401
PUT    /auth/password                             401 422 422 422 422 403 401
GET    /me                                        401 200 200 200 200 403 401
PATCH  /me                                        401 422 422 422 422 403 401
GET    /me/addresses                              401 200 200 200 200 403 401
POST   /me/addresses                              401 422 422 422 422 403 401
PUT    /me/addresses/{address}/default            401 204 404 404 404 403 401
DELETE /me/addresses/{ghost}                      401 404 404 404 404 403 401
POST   /staff                                     401 403 403 403 422 403 401
GET    /customers/{customer}                      401 403 403 403 200 403 401
GET    /customers                                 401 403 403 403 200 403 401
GET    /categories                                200 200 200 200 200 200 401
POST   /categories                                401 403 403 403 422 403 401
PUT    /categories/{category}/parent              401 403 403 403 422 403 401
POST   /brands                                    401 403 403 403 422 403 401
GET    /brands                                    200 200 200 200 200 200 401
GET    /vendors                                   401 403 403 200 200 403 401
POST   /vendors                                   401 403 403 403 422 403 401
GET    /products                                  200 200 200 200 200 200 401
POST   /products                                  401 403 403 422 422 403 401
GET    /products/{draft}                          404 404 404 404 200 404 401
GET    /products/{staff_product}                  200 200 200 200 200 200 401
PATCH  /products/{product}                        401 403 403 422 422 403 401
PUT    /products/{product}/status                 401 403 403 422 422 403 401
POST   /products/{product}/variants               401 403 403 422 422 403 401
PATCH  /variants/{variant}                        401 403 403 422 422 403 401
DELETE /variants/{ghost}                          401 403 403 404 404 403 401
PUT    /products/{product}/attributes/material    401 403 403 422 422 403 401
DELETE /products/{ghost}/attributes/material      401 403 403 404 404 403 401
POST   /products/{product}/images                 401 403 403 422 422 403 401
PUT    /images/{ghost}/primary                    401 403 403 404 404 403 401
DELETE /images/{ghost}                            401 403 403 404 404 403 401
GET    /products/{staff_product}/stock            401 403 403 200 200 403 401
GET    /products/{product}/stock                  401 403 403 404 200 403 401
POST   /products/{product}/stock                  401 403 403 422 422 403 401
GET    /cart                                      401 200 200 403 403 403 401
POST   /cart/items                                401 422 422 403 403 403 401
PUT    /cart/items                                401 422 422 403 403 403 401
POST   /cart/checkout                             401 422 422 403 422 403 401
POST   /orders                                    401 422 422 403 422 403 401
GET    /orders                                    401 200 200 403 200 403 401
GET    /orders/{order}                            401 200 404 403 200 403 401
GET    /me/order-history                          401 200 200 403 200 403 401
GET    /storefront/products/lamp                  200 200 200 200 200 200 401
GET    /storefront/products/secret                404 404 404 404 404 404 401
GET    /storefront/categories/{category}/products 200 200 200 200 200 200 401
GET    /orders/{order}/payments                   401 200 404 403 200 403 401
POST   /orders/{order}/cancel                     401 422 422 403 422 403 401
POST   /orders/{order}/status/shipped             401 403 403 403 422 403 401
POST   /orders/{order}/refunds                    401 403 403 403 422 403 401
GET    /vendor/order-lines                        401 403 403 200 403 403 401
POST   /payments/webhooks/test                    404 404 404 404 404 404 401
GET    /products/{product}/reviews                200 200 200 200 200 200 401
POST   /products/{product}/reviews                401 422 422 403 403 403 401
GET    /products/{product}/rating                 200 200 200 200 200 200 401
GET    /products/{product}/recommendations        200 200 200 200 200 200 401
GET    /me/recommendations                        401 200 200 200 200 403 401
POST   /reviews/{ghost}/helpful                   401 404 404 404 404 403 401
GET    /reviews/pending                           401 403 403 403 200 403 401
PUT    /reviews/{ghost}/approval                  401 403 403 403 404 403 401
DELETE /reviews/{ghost}                           401 403 403 403 404 403 401
GET    /pages                                     200 200 200 200 200 200 401
GET    /pages/{page_slug}                         200 200 200 200 200 200 401
GET    /content/pages                             401 403 403 403 200 403 401
POST   /content/pages                             401 403 403 403 422 403 401
PATCH  /content/pages/{page}                      401 403 403 403 422 403 401
PUT    /content/pages/{page}/status               401 403 403 403 422 403 401
POST   /events                                    422 422 422 422 422 422 401
GET    /me/analytics/timeline                     401 200 200 200 200 403 401
GET    /analytics/customers/{customer}/timeline   401 403 403 403 200 403 401
GET    /analytics/carts/anon-1/timeline           401 403 403 403 200 403 401
GET    /analytics/products/{product}/hourly       401 403 403 403 200 403 401
GET    /analytics/products/{product}/funnel       401 403 403 403 200 403 401
GET    /analytics/categories/{category}/funnel    401 403 403 403 200 403 401
GET    /analytics/top-products                    401 403 403 403 200 403 401
GET    /analytics/orders/{order}/events           401 403 403 403 200 403 401
"""
# These end the caller's session, so every role calls them with a fresh one.
SESSION_ENDING = {("POST", "/auth/logout"), ("DELETE", "/auth/sessions")}


@dataclass
class Row:
    method: str
    path: str
    expected: dict[str, int]


ROWS = [
    Row(parts[0], parts[1], dict(zip(ROLES, map(int, parts[2:]), strict=True)))
    for parts in (line.split() for line in MATRIX.strip().splitlines())
]


@dataclass
class World:
    ids: dict[str, str]
    actors: dict[str, Actor]
    emails: dict[str, str]


@pytest.fixture(scope="module")
async def world(http: httpx.AsyncClient, app: bootstrap.Container) -> World:
    slug, admin = await new_shop(http)
    category = ok(await admin.call("POST", "/categories", json={"name": "All"}), 201)
    ours = ok(await admin.call("POST", "/vendors", json={"name": "Shop's own"}), 201)
    staffs = ok(await admin.call("POST", "/vendors", json={"name": "Partner"}), 201)
    product = ok(await admin.call("POST", "/products", json={
        "name": "Lamp", "sku": "LAMP", "price": "20.00", "category_id": category["id"],
        "vendor_id": ours["id"], "status": "active", "variants": [
            {"title": "Red", "sku": "LAMP-R", "price": "20.00", "initial_stock": 50}]}), 201)  # fmt: skip
    variant = ok(await admin.call("GET", f"/products/{product['id']}"))["variants"][0]["id"]
    draft = ok(await admin.call("POST", "/products", json={
        "name": "Secret", "sku": "SECRET", "price": "1.00", "category_id": category["id"],
        "vendor_id": ours["id"]}), 201)  # fmt: skip
    staff_product = ok(await admin.call("POST", "/products", json={
        "name": "Rug", "sku": "RUG", "price": "90.00", "category_id": category["id"],
        "vendor_id": staffs["id"], "status": "active", "initial_stock": 5}), 201)  # fmt: skip
    page = ok(
        await admin.call("POST", "/content/pages", json={"title": "About", "content": "Us"}), 201
    )
    ok(
        await admin.call(
            "PUT", f"/content/pages/{page['id']}/status", json={"status": "published"}
        ),
        204,
    )

    staff_email = f"staff-{uuid.uuid4().hex[:6]}@example.com"
    ok(await admin.call("POST", "/staff", json={
        "email": staff_email, "password": PASSWORD, "first_name": "Sam", "last_name": "Taff",
        "role": "vendor_staff", "vendor_id": staffs["id"]}), 201)  # fmt: skip
    customer = await new_customer(http, slug, "cleo")
    other = await new_customer(http, slug, "dave")
    address = ok(await customer.call("POST", "/me/addresses", json={
        "street_address": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}), 201)  # fmt: skip
    order = ok(await customer.call("POST", "/orders", json={
        "lines": [{"product_id": product["id"], "variant_id": variant, "quantity": 1}],
        "shipping_address": ADDRESS}), 201)  # fmt: skip
    _, foreign_admin = await new_shop(http)
    await app.relay.run_until_idle()  # the document store's read paths have their documents

    emails = {
        "customer": ok(await customer.call("GET", "/me"))["user"]["email"],
        "other_customer": ok(await other.call("GET", "/me"))["user"]["email"],
        "vendor_staff": staff_email,
        "tenant_admin": f"admin@{slug}.test",
    }
    actors = {
        "anonymous": Actor(http, slug),
        "customer": customer,
        "other_customer": other,
        "vendor_staff": await Actor(http, slug).sign_in(staff_email),
        "tenant_admin": admin,
        "platform_admin": Actor(http, slug, headers=PLATFORM),
        # Another shop's admin token, sent to this shop.
        "other_tenant": Actor(http, slug, token=foreign_admin.token),
    }
    ids = {
        "slug": slug, "category": category["id"], "product": product["id"], "variant": variant,
        "draft": draft["id"], "staff_product": staff_product["id"], "order": order["id"],
        "address": address["id"], "customer": customer.user_id or "", "page": page["id"],
        "page_slug": "about", "ghost": GHOST,
    }  # fmt: skip
    return World(ids, actors, emails)


def test_the_matrix_covers_every_operation(api: FastAPI) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in api.openapi()["paths"].items()
        for method in operations
    }
    covered = {(row.method, _template(row.path)) for row in ROWS}
    assert documented - covered == set(), "operations without a row in the matrix"


def _template(path: str) -> str:
    """The matrix row's path as the OpenAPI template it exercises."""
    names = {
        "{slug}": "{slug}", "{address}": "{address_id}", "{ghost}": "{id}", "{customer}": "{user_id}",
        "{category}": "{category_id}", "{draft}": "{product_id}", "{staff_product}": "{product_id}",
        "{product}": "{product_id}", "{variant}": "{variant_id}", "{order}": "{order_id}",
        "{page}": "{page_id}", "{page_slug}": "{slug}",
    }  # fmt: skip
    for placeholder, name in names.items():
        path = path.replace(placeholder, name)
    if "{id}" in path:  # a ghost id stands for whatever the route calls its id
        prefix = path.split("/")[1]
        path = path.replace("{id}", {"me": "{address_id}", "variants": "{variant_id}",
                                     "products": "{product_id}", "images": "{image_id}",
                                     "reviews": "{review_id}"}[prefix])  # fmt: skip
    path = path.replace("/payments/webhooks/test", "/payments/webhooks/{gateway}")
    path = path.replace("/analytics/carts/anon-1/", "/analytics/carts/{cart_token}/")
    for slug in ("lamp", "secret"):
        path = path.replace(f"/storefront/products/{slug}", "/storefront/products/{slug}")
    return path.replace("/shipped", "/{target}").replace(
        "/attributes/material", "/attributes/{name}"
    )


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.method} {r.path}" for r in ROWS])
async def test_each_role_gets_its_status(world: World, row: Row) -> None:
    path = row.path.format(**world.ids)
    body: Any = [] if row.method in {"POST", "PUT", "PATCH"} and not _bodyless(row) else None
    got: dict[str, int] = {}
    for role in ROLES:
        actor = world.actors[role]
        if (row.method, row.path) in SESSION_ENDING and role in world.emails:
            actor = await Actor(actor.http, actor.slug).sign_in(world.emails[role])
        response = await actor.call(row.method, path, json=body)
        got[role] = response.status_code
        if (row.method, row.path) in SESSION_ENDING and role in world.emails:
            await world.actors[role].sign_in(
                world.emails[role]
            )  # signing out everywhere ends it too
        if (response.status_code >= 400 and response.status_code != 404) or role == "other_tenant":
            assert (
                response.headers["content-type"].startswith("application/problem+json")
                or response.status_code < 400
            ), response.text
    assert got == row.expected


def _bodyless(row: Row) -> bool:
    return row.path.endswith(("/default", "/primary", "/helpful", "/approval", "/logout"))
