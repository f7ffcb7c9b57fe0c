"""Issue 14's attacks, each performed over HTTP as a hostile caller would: every test here failed
on the code before the fix (crafted cursors, settings, hidden products' reviews, vote stuffing,
cacheable personal answers, missing security headers, weak passwords, look-alike emails,
account probing by registration, a lock without Retry-After, database text in 422s)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from polyshop import bootstrap
from polyshop.api import create_app
from tests.support.actors import (
    ADDRESS,
    PASSWORD,
    PLATFORM,
    RULES,
    Actor,
    new_customer,
    new_shop,
    ok,
)

ZERO_ID = "00000000-0000-0000-0000-000000000000"
# What the database would have said; none of it may reach a client.
DATABASE_WORDS = ("timestamp", "operator", "integer out of range", "numeric field", "syntax",
                  "relation", "constraint", "type ", "column")  # fmt: skip


def _problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    if code is not None:
        assert body["code"] == code, body
    return body


def _no_database_text(body: dict[str, Any]) -> None:
    text = json.dumps(body).lower()
    for word in DATABASE_WORDS:
        assert word not in text, (word, body)


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([value, ZERO_ID]).encode()).decode().rstrip("=")


async def _product(admin: Actor, *, status: str = "active", sku: str | None = None) -> str:
    tag = uuid.uuid4().hex[:8]
    category = ok(await admin.call("POST", "/categories", json={"name": f"All {tag}"}), 201)
    vendor = ok(await admin.call("POST", "/vendors", json={"name": f"V {tag}"}), 201)
    created = ok(await admin.call("POST", "/products", json={
        "name": f"Kettle {tag}", "sku": sku or f"K-{tag}", "price": "30.00",
        "category_id": category["id"], "vendor_id": vendor["id"], "status": status,
        "initial_stock": 10}), 201)  # fmt: skip
    return str(created["id"])


# -- 1. crafted listing cursors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("newest", {"a": 1}),
        ("newest", 1.5),
        ("newest", "x' OR 1=1--"),
        ("newest", "2026-01-01T00:00:00"),  # no time zone: ambiguous
        ("newest", None),
        ("price_asc", "abc"),
        ("price_asc", [1]),
        ("price_desc", "NaN"),
        ("price_desc", "1e999999"),
        ("name", True),
        ("name", 12),
        ("name", "bad\u0000name"),
        ("name", "\ud800"),  # a lone surrogate: valid JSON, not text PostgreSQL takes
    ],
)
async def test_a_crafted_listing_cursor_is_a_422_naming_the_cursor(
    http: httpx.AsyncClient, sort: str, key: Any
) -> None:
    slug, admin = await new_shop(http)
    await _product(admin)
    visitor = Actor(http, slug)
    response = await visitor.call("GET", "/products", params={"sort": sort, "cursor": _cursor(key)})
    body = _problem(response, 422, "validation")
    assert body["errors"][0]["field"] == "cursor"
    _no_database_text(body)
    # The connection the refused request used is fine for the next one.
    for _ in range(3):
        assert len(ok(await visitor.call("GET", "/products", params={"sort": sort}))["items"]) == 1


async def test_a_relevance_cursor_must_be_a_number(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    await _product(admin)
    for key in ("high", {"x": 1}, True):
        response = await Actor(http, slug).call(
            "GET", "/products", params={"q": "kettle", "sort": "relevance", "cursor": _cursor(key)}
        )
        assert _problem(response, 422, "validation")["errors"][0]["field"] == "cursor"


async def test_real_listing_cursors_still_page_through(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    for _ in range(3):
        await _product(admin)
    visitor = Actor(http, slug)
    for sort in ("newest", "price_asc", "price_desc", "name"):
        first = ok(await visitor.call("GET", "/products", params={"sort": sort, "limit": 2}))
        rest = ok(await visitor.call("GET", first["next"]))
        ids = {p["id"] for p in first["items"] + rest["items"]}
        assert len(ids) == 3, sort


# -- 2. shop settings -----------------------------------------------------------------------


def _with_discount(spec: Any) -> dict[str, Any]:
    return {**RULES, "discounts": {"BAD": spec}}


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        (_with_discount({"type": "percent", "value": "NaN"}), "discounts.BAD.value"),
        (_with_discount({"type": "percent", "value": "-50"}), "discounts.BAD.value"),
        (_with_discount({"type": "percent", "value": "150"}), "discounts.BAD.value"),
        (_with_discount({"type": "percent", "value": "abc"}), "discounts.BAD.value"),
        (_with_discount({"type": "percent"}), "discounts.BAD.value"),
        (_with_discount({"type": "fixed", "value": "0"}), "discounts.BAD.value"),
        (_with_discount({"type": "fixed", "value": 5}), "discounts.BAD.value"),
        (_with_discount({"type": "bogo", "value": "1"}), "discounts.BAD.type"),
        (_with_discount("ten percent"), "discounts.BAD"),
        ({**RULES, "tax": {"default_rate": "NaN"}}, "tax.default_rate"),
        ({**RULES, "tax": "0.1"}, "tax"),
        ({**RULES, "shipping": {"standard": {"price": "-5"}}}, "shipping.standard.price"),
        ({**RULES, "shipping": {"standard": {}}}, "shipping.standard.price"),
        ({**RULES, "surprise": {}}, "surprise"),
        ({**RULES, "payments": {"gateway": "bitcoin"}}, "payments.gateway"),
    ],
)
async def test_bad_shop_settings_are_refused_when_written(
    http: httpx.AsyncClient, rules: dict[str, Any], field: str
) -> None:
    slug, admin = await new_shop(http)
    product = await _product(admin)
    response = await http.put(f"/platform/tenants/{slug}/settings", headers=PLATFORM, json=rules)
    body = _problem(response, 422, "validation")
    assert body["errors"][0]["field"] == field, body
    _no_database_text(body)
    # The shop's rules are unchanged: its real code still prices an order.
    customer = await new_customer(http, slug)
    order = ok(await customer.call("POST", "/orders", json={
        "lines": [{"product_id": product, "quantity": 1}], "shipping_address": ADDRESS,
        "discount_code": "WELCOME10"}), 201)  # fmt: skip
    assert order["discount"] == "3.00"


async def test_stored_settings_are_not_trusted_when_read(
    http: httpx.AsyncClient, admin_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Settings written before the check (or by hand) refuse sales with a 409, not a 500."""
    slug, admin = await new_shop(http)
    product = await _product(admin)
    customer = await new_customer(http, slug)
    broken = {**RULES, "discounts": {"NAN": {"type": "percent", "value": "NaN"}}}
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(
            "UPDATE tenants SET settings = %s WHERE slug = %s", (json.dumps(broken), slug)
        )
    for code in ("NAN", None):
        response = await customer.call("POST", "/orders", json={
            "lines": [{"product_id": product, "quantity": 1}], "shipping_address": ADDRESS,
            "discount_code": code})  # fmt: skip
        body = _problem(response, 409, "shop_misconfigured")
        assert "NAN" not in json.dumps(body)  # customers do not learn the shop's codes
    assert any("discounts.NAN.value" in r.getMessage() for r in caplog.records)
    assert ok(await customer.call("GET", "/orders"))["items"] == []


# -- 3 and 4. reviews and votes ---------------------------------------------------------------


async def test_reviews_of_a_hidden_product_are_not_found(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    draft = await _product(admin, status="draft")
    customer = await new_customer(http, slug)
    _problem(await customer.call("GET", f"/products/{draft}"), 404, "not_found")
    for _ in range(2):  # no 409 on a repeat either: nothing tells that the id exists
        _problem(
            await customer.call("POST", f"/products/{draft}/reviews", json={"rating": 5}),
            404, "not_found",
        )  # fmt: skip
    for path in (f"/products/{draft}/reviews", f"/products/{draft}/rating"):
        _problem(await customer.call("GET", path), 404, "not_found")
        _problem(await Actor(http, slug).call("GET", path), 404, "not_found")
        assert (await admin.call("GET", path)).status_code == 200  # those who manage it see it
    assert ok(await admin.call("GET", "/reviews/pending")) == []
    # A product taken off sale hides its reviews and their votes too.
    product = await _product(admin)
    review = ok(
        await customer.call("POST", f"/products/{product}/reviews", json={"rating": 4}), 201
    )
    ok(await admin.call("PUT", f"/reviews/{review['id']}/approval"), 204)
    ok(await admin.call("PUT", f"/products/{product}/status", json={"status": "archived"}), 204)
    voter = await new_customer(http, slug, "vic")
    _problem(await voter.call("POST", f"/reviews/{review['id']}/helpful"), 404, "not_found")
    _problem(await voter.call("GET", f"/products/{product}/reviews"), 404, "not_found")


async def test_one_helpful_vote_per_account_and_none_for_ones_own(
    http: httpx.AsyncClient,
) -> None:
    slug, admin = await new_shop(http)
    product = await _product(admin)
    author = await new_customer(http, slug, "ann")
    review = ok(await author.call("POST", f"/products/{product}/reviews", json={"rating": 5}), 201)
    ok(await admin.call("PUT", f"/reviews/{review['id']}/approval"), 204)
    path = f"/reviews/{review['id']}/helpful"
    bob = await new_customer(http, slug, "bob")
    assert [ok(await bob.call("POST", path))["helpful_count"] for _ in range(3)] == [1, 1, 1]
    eve = await new_customer(http, slug, "eve")
    answers = await asyncio.gather(*(eve.call("POST", path) for _ in range(10)))
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["helpful_count"] for a in answers} == {2}
    _problem(await author.call("POST", path), 403, "forbidden")
    listed = ok(await Actor(http, slug).call("GET", f"/products/{product}/reviews"))
    assert [r["helpful_count"] for r in listed] == [2]


# -- 5 and 6. caching and security headers ----------------------------------------------------


async def test_answers_for_a_caller_are_not_cacheable(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    product = await _product(admin)
    customer = await new_customer(http, slug)
    for actor, path in ((customer, "/me"), (customer, "/orders"), (customer, "/me/addresses"),
                        (admin, "/customers"), (admin, "/auth/sessions"),
                        (admin, f"/products/{product}/stock")):  # fmt: skip
        response = await actor.call("GET", path)
        assert response.status_code == 200, path
        assert "no-store" in response.headers["cache-control"], path
        assert "Authorization" in response.headers["vary"], path
    # A sign-in answer carries the token and sets the cookie.
    email = ok(await customer.call("GET", "/me"))["user"]["email"]
    login = await Actor(http, slug).call(
        "POST", "/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert login.headers["cache-control"] == "no-store"
    http.cookies.clear()  # the shared client would send the new session cookie along
    # The product page keeps its ETag revalidation, in the caller's own cache only.
    page = await customer.call("GET", f"/products/{product}")
    assert page.headers["cache-control"] == "private, no-cache" and page.headers["etag"]
    anonymous = await Actor(http, slug).call("GET", f"/products/{product}")
    assert anonymous.headers["cache-control"] == "no-cache"
    assert "X-Tenant" in anonymous.headers["vary"]


async def test_every_answer_has_the_security_headers(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    for response in (
        await admin.call("GET", "/me"),
        await Actor(http, slug).call("GET", "/categories"),
        await Actor(http, slug).call("GET", f"/products/{uuid.uuid4()}"),  # a problem
        await http.get("/openapi.json"),
    ):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "strict-transport-security" not in headers  # not configured
    docs = await http.get("/docs")
    assert docs.status_code == 200
    policy = docs.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    # Nothing from another origin, nothing inline.
    assert "http://" not in docs.text and "https://" not in docs.text
    assert "<script>" not in docs.text and "<style" not in docs.text
    for asset in (
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/docs/init.js",
    ):
        fetched = await http.get(asset)
        assert fetched.status_code == 200 and len(fetched.content) > 100, asset


async def test_hsts_over_https_when_configured(app: bootstrap.Container) -> None:
    configured = app.settings.model_copy(update={"api_hsts_seconds": 31_536_000})
    api = create_app(container=_with_settings(app, configured))
    for scheme, expected in (("https", True), ("http", False)):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api), base_url=f"{scheme}://shop.test"
        ) as client:
            headers = (await client.get("/health/live")).headers
            assert ("strict-transport-security" in headers) is expected, scheme
            if expected:
                assert headers["strict-transport-security"].startswith("max-age=31536000")


def _with_settings(app: bootstrap.Container, settings: Any) -> bootstrap.Container:
    return dataclasses.replace(app, settings=settings)


# -- 7, 8 and 9. registration ---------------------------------------------------------------


def _registration(email: str, password: str = PASSWORD, first: str = "Ada", last: str = "Lovelace") -> dict[str, str]:  # fmt: skip
    return {"email": email, "password": password, "first_name": first, "last_name": last}


@pytest.mark.parametrize(
    "password",
    ["aaaaaaaaaa", "1234567890", "password12", " " * 10, "\u0000" * 10, "qwertyuiop",
     "AdaLovelace1815", "lovelace.ada2024", "{local}{local}"],
)  # fmt: skip
async def test_guessable_passwords_are_refused(http: httpx.AsyncClient, password: str) -> None:
    slug, _ = await new_shop(http)
    local = f"ada{uuid.uuid4().hex[:6]}"
    body = _problem(
        await Actor(http, slug).call(
            "POST", "/auth/register",
            json=_registration(f"{local}@example.com", password.format(local=local)),
        ),
        422, "validation",
    )  # fmt: skip
    assert body["errors"][0]["field"] == "password"
    assert "password" in body["detail"]


async def test_look_alike_emails_are_one_account_or_refused(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    tag = str(uuid.uuid4().int)[:6]  # digits: no script of their own
    visitor = Actor(http, slug)
    ok(
        await visitor.call("POST", "/auth/register", json=_registration(f"c3{tag}@example.com")),
        202,
    )
    # Fullwidth letters are the same address: no second account, and it signs in as the first.
    fullwidth = "\uff43\uff13" + tag + "@example.com"
    ok(await visitor.call("POST", "/auth/register", json=_registration(fullwidth, "another fine passphrase here")), 202)  # fmt: skip
    await Actor(http, slug).sign_in(fullwidth)
    # A Cyrillic es for the c, alone or among Latin letters: refused.
    for email in (f"\u04413{tag}@example.com", f"\u0441a{tag}@example.com"):
        body = _problem(
            await visitor.call("POST", "/auth/register", json=_registration(email)), 422
        )
        assert body["errors"][0]["field"] == "email"
    # A name in one other alphabet is fine.
    ok(await visitor.call("POST", "/auth/register", json=_registration(f"\u0438\u0432\u0430\u043d{tag}@example.com")), 202)  # fmt: skip
    # A name of invisible characters only is blank.
    for invisible in ("\u200b", "\u200b\u200d \u2060", "\u3164", "\ufeff"):
        body = _problem(
            await visitor.call("POST", "/auth/register",
                               json=_registration(f"z{tag}@example.com", first=invisible)),
            422,
        )  # fmt: skip
        assert body["errors"][0]["field"] == "first_name"
    accounts = ok(await admin.call("GET", "/customers", params={"role": "customer"}))["items"]
    assert sorted(a["email"] for a in accounts) == sorted(
        [f"c3{tag}@example.com", f"\u0438\u0432\u0430\u043d{tag}@example.com"]
    )


async def test_registration_does_not_tell_whether_an_account_exists(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    slug, _ = await new_shop(http)
    email = f"dora-{uuid.uuid4().hex[:6]}@example.com"
    visitor = Actor(http, slug)
    with caplog.at_level(logging.INFO, logger="polyshop.mail"):
        first = await visitor.call("POST", "/auth/register", json=_registration(email))
        again = await visitor.call(
            "POST", "/auth/register", json=_registration(email.upper(), "quite another passphrase")
        )
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    mails = [r.getMessage() for r in caplog.records if r.name == "polyshop.mail"]
    assert len(mails) == 2 and all(email in m for m in mails)
    assert "Welcome" in mails[0] and "already have an account" in mails[1]
    # The account keeps its first password.
    await Actor(http, slug).sign_in(email)


# -- 10. a locked account ---------------------------------------------------------------------


async def test_a_locked_account_says_when_to_retry(http: httpx.AsyncClient) -> None:
    slug, _ = await new_shop(http)
    customer = await new_customer(http, slug)
    email = ok(await customer.call("GET", "/me"))["user"]["email"]
    visitor = Actor(http, slug)
    for _ in range(5):
        await visitor.call(
            "POST", "/auth/login", json={"email": email, "password": "wrong password!"}
        )
    locked = await visitor.call("POST", "/auth/login", json={"email": email, "password": PASSWORD})
    _problem(locked, 429, "account_locked")
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60
    # Another spelling of the address is the same account, and as locked.
    respelled = await visitor.call(
        "POST", "/auth/login", json={"email": email.upper(), "password": PASSWORD}
    )
    _problem(respelled, 429, "account_locked")


# -- 11. database text ------------------------------------------------------------------------


async def test_values_the_database_refuses_get_messages_of_our_own(
    http: httpx.AsyncClient,
) -> None:
    slug, admin = await new_shop(http)
    product = await _product(admin)
    # Stock past the integer range ("integer out of range").
    change = {"change": 1_000_000_000, "reason": "delivery"}
    for _ in range(2):
        ok(await admin.call("POST", f"/products/{product}/stock", json=change))
    body = _problem(await admin.call("POST", f"/products/{product}/stock", json=change), 422)
    assert body["errors"][0]["field"] == "quantity"
    _no_database_text(body)
    # A weight past its column ("numeric field overflow").
    category = ok(await admin.call("GET", "/categories"))[0]["id"]
    vendor = ok(await admin.call("GET", "/vendors"))[0]["id"]
    heavy = {"name": "Anvil", "sku": "ANVIL", "price": "1.00", "category_id": category,
             "vendor_id": vendor, "weight": "1234567890.00"}  # fmt: skip
    body = _problem(await admin.call("POST", "/products", json=heavy), 422)
    assert body["errors"][0]["field"] == "weight"
    _no_database_text(body)
    # A time where the listing keeps times ("invalid input syntax for type timestamp").
    body = _problem(
        await Actor(http, slug).call("GET", "/products", params={"cursor": _cursor("x' OR 1=1--")}),
        422,
    )
    _no_database_text(body)
