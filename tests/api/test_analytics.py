"""POST /events over HTTP: what a storefront may send, what it is refused (a 422 naming the field,
nothing of the batch written), and the outbox row an accepted batch becomes."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from polyshop import bootstrap
from polyshop.api import create_app
from polyshop.services.ratelimit import RateLimiter
from tests.support.actors import Actor, new_customer, new_shop, ok


def view(**fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()), "type": "view",
        "occurred_at": datetime.now(UTC).isoformat(), "cart_token": "anon-7",
        "product_id": str(uuid.uuid4()), **fields,
    }  # fmt: skip


def recorded(admin: psycopg.Connection[Any], slug: str) -> list[dict[str, Any]]:
    rows = admin.execute(
        "SELECT o.payload FROM outbox o JOIN tenants t ON t.id = o.tenant_id"
        " WHERE t.slug = %s AND o.event_type = 'storefront.events_recorded' ORDER BY o.id",
        (slug,),
    ).fetchall()
    return [row[0] for row in rows]


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


async def test_an_accepted_batch_is_one_outbox_row_in_the_shared_shape(
    http: httpx.AsyncClient, admin: psycopg.Connection[Any]
) -> None:
    slug, _ = await new_shop(http)
    visitor = Actor(http, slug)
    product, category = str(uuid.uuid4()), str(uuid.uuid4())
    when = datetime.now(UTC) - timedelta(minutes=1)
    batch = [
        view(product_id=product, category_id=category, occurred_at=when.isoformat()),
        {"event_id": str(uuid.uuid4()), "type": "search", "occurred_at": when.isoformat(),
         "session_id": "s-1", "query": "lamp"},
        {"event_id": str(uuid.uuid4()), "type": "add_to_cart", "occurred_at": when.isoformat(),
         "cart_token": "anon-7", "product_id": product, "quantity": 2},
    ]  # fmt: skip
    body = ok(await visitor.call("POST", "/events", json={"events": batch}), 202)
    assert body["accepted"] == 3
    [payload] = recorded(admin, slug)
    assert [e["event_id"] for e in payload["events"]] == [e["event_id"] for e in batch]
    first = payload["events"][0]
    assert first == {
        "event_id": batch[0]["event_id"], "type": "view", "occurred_at": when.isoformat(),
        "customer_id": None, "cart_token": "anon-7", "session_id": None, "product_id": product,
        "category_id": category, "query": None, "quantity": None,
    }  # fmt: skip
    assert payload["events"][1]["query"] == "lamp"
    assert payload["events"][2]["quantity"] == 2


async def test_a_signed_in_customer_sends_events_as_themselves_only(
    http: httpx.AsyncClient, admin: psycopg.Connection[Any]
) -> None:
    slug, _ = await new_shop(http)
    ann = await new_customer(http, slug, "ann")
    bob = await new_customer(http, slug, "bob")
    ok(await ann.call("POST", "/events", json={"events": [view(cart_token=None)]}), 202)
    assert recorded(admin, slug)[0]["events"][0]["customer_id"] == ann.user_id
    # Claiming another customer's id, signed in as someone else or not at all: refused.
    for caller in (bob, Actor(http, slug)):
        refused = await caller.call(
            "POST", "/events", json={"events": [view(customer_id=ann.user_id)]}
        )
        assert "customer_id" in problem(refused, 403)["detail"]
    assert len(recorded(admin, slug)) == 1


async def test_a_bad_batch_is_refused_naming_the_field_and_nothing_is_written(
    http: httpx.AsyncClient, admin: psycopg.Connection[Any]
) -> None:
    slug, _ = await new_shop(http)
    visitor = Actor(http, slug)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    missing = view()
    del missing["event_id"]
    cases = {
        "events[1].type": [view(), view(type="teleport")],
        "events[0].occurred_at": [view(occurred_at=future)],
        "events[2].product_id": [view(), view(), view(product_id=None)],
        "events[0].cart_token": [view(cart_token=None)],
        "events[0].query": [view(type="search", product_id=None)],
        "events[0].quantity": [view(type="add_to_cart")],
        "events[1].event_id": [missing_twice := view(), dict(missing_twice)],
        "events": [view() for _ in range(101)],
    }
    for field, events in cases.items():
        body = problem(await visitor.call("POST", "/events", json={"events": events}), 422)
        assert [e["field"] for e in body["errors"]] == [field], (field, body)
    body = problem(await visitor.call("POST", "/events", json={"events": [view(), missing]}), 422)
    assert any("event_id" in e["field"] for e in body["errors"]), body
    assert recorded(admin, slug) == []


async def test_ingest_is_rate_limited(app: bootstrap.Container, http: httpx.AsyncClient) -> None:
    slug, _ = await new_shop(http)
    limited = dataclasses.replace(
        app, rate_limiter=RateLimiter(app.redis, limit=2, window_seconds=60)
    )
    transport = httpx.ASGITransport(app=create_app(container=limited), client=("198.51.100.7", 1))
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
        statuses = [
            (await client.post("/events", headers={"X-Tenant": slug},
                               json={"events": [view()]})).status_code
            for _ in range(3)
        ]  # fmt: skip
    assert statuses == [202, 202, 429]
