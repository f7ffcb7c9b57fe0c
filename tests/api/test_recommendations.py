"""Recommendations over HTTP: each kind with its reason, refusals as problems, Redis caching
retired by the graph projector, personal recommendations for the signed-in customer only."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx

from polyshop import bootstrap
from polyshop.adapters.neo4j import Neo4jGraphStore
from polyshop.domain.recommendations import RecommendationKind
from polyshop.services.recommendations import RecommendationService
from polyshop.sync import GraphProjector, Relay
from polyshop.sync.maintenance import start_at_head
from tests.support.actors import ADDRESS, Actor, new_customer, new_shop, ok

BT = RecommendationKind.BOUGHT_TOGETHER


async def catalog(admin: Actor) -> dict[str, Any]:
    category = ok(await admin.call("POST", "/categories", json={"name": "Audio"}), 201)
    vendor = ok(await admin.call("POST", "/vendors", json={"name": "Own"}), 201)
    products = {}
    for name in ("Headphones", "Cable", "Speaker", "Amp"):
        products[name] = ok(await admin.call("POST", "/products", json={
            "name": name, "sku": name.upper(), "price": "10.00", "category_id": category["id"],
            "vendor_id": vendor["id"], "status": "active", "initial_stock": 100}), 201)["id"]  # fmt: skip
    return {"category": category["id"], "products": products}


async def buy(customer: Actor, *product_ids: str) -> None:
    ok(await customer.call("POST", "/orders", json={
        "lines": [{"product_id": p, "quantity": 1} for p in product_ids],
        "shipping_address": ADDRESS}), 201)  # fmt: skip


async def test_product_recommendations_say_why_and_follow_the_graph(
    http: httpx.AsyncClient, app: bootstrap.Container
) -> None:
    relay = app.relays["graph"]
    await start_at_head(relay)
    slug, admin = await new_shop(http)
    shop = await catalog(admin)
    p = shop["products"]
    ann, bob = await new_customer(http, slug, "ann"), await new_customer(http, slug, "bob")
    ann_tenant = (await app.tenants.get(slug)).id
    await buy(ann, p["Headphones"], p["Cable"])
    await relay.run_until_idle()
    url = f"/products/{p['Headphones']}/recommendations"
    first = ok(await ann.call("GET", url, params={"kind": "bought_together"}))
    assert [(r["name"], r["reason"]) for r in first] == [("Cable", "bought together 1 time")]
    similar = ok(await ann.call("GET", url, params={"kind": "similar", "limit": 2}))
    assert len(similar) == 2 and similar[0]["reason"] == "similar: same category"
    trending = ok(await Actor(http, slug).call("GET", url, params={"kind": "trending"}))
    assert p["Headphones"] not in {r["product_id"] for r in trending}
    assert trending[0]["name"] == "Cable"

    # Cached: a projector that retires nothing (another name, no cache) changes the graph, and
    # the answer stays the cached one; the application's projector then retires the entry.
    silent = Relay(
        app.relay_database, GraphProjector(app.relay_database, app.graph, name="graph-silent")
    )
    await start_at_head(silent)
    await buy(bob, p["Headphones"], p["Speaker"])
    await buy(bob, p["Headphones"], p["Speaker"])
    await silent.run_until_idle()
    assert len(await app.graph.related(ann_tenant, UUID(p["Headphones"]), BT, 5)) == 2
    assert ok(await ann.call("GET", url, params={"kind": "bought_together"})) == first
    await relay.run_until_idle()
    after = ok(await ann.call("GET", url, params={"kind": "bought_together"}))
    assert [(r["name"], r["reason"]) for r in after] == [
        ("Speaker", "bought together 2 times"), ("Cable", "bought together 1 time")]  # fmt: skip

    # A product taken off sale disappears from every answer.
    ok(
        await admin.call("PUT", f"/products/{p['Speaker']}/status", json={"status": "inactive"}),
        204,
    )
    await relay.run_until_idle()
    gone = ok(await ann.call("GET", url, params={"kind": "bought_together"}))
    assert [r["name"] for r in gone] == ["Cable"]

    # Personal: for the signed-in customer only, never what they bought.
    mine = ok(await bob.call("GET", "/me/recommendations"))
    assert mine and {r["name"] for r in mine}.isdisjoint({"Headphones", "Speaker"})
    assert all(r["reason"].startswith("because you ") for r in mine)
    assert (await Actor(http, slug).call("GET", "/me/recommendations")).status_code == 401


async def test_bad_requests_are_problems(http: httpx.AsyncClient) -> None:
    slug, admin = await new_shop(http)
    shop = await catalog(admin)
    url = f"/products/{shop['products']['Cable']}/recommendations"
    for params in ({"kind": "for_you"}, {"kind": "nonsense"}, {"limit": 0}, {"limit": 51}):
        response = await admin.call("GET", url, params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")
    bad_id = await admin.call("GET", "/products/not-a-uuid/recommendations")
    assert bad_id.status_code == 422
    # Another shop's product, asked in this shop: nothing, not their data.
    other_slug, other_admin = await new_shop(http)
    theirs = (await catalog(other_admin))["products"]["Cable"]
    assert ok(await admin.call("GET", f"/products/{theirs}/recommendations",
                               params={"kind": "similar"})) == []  # fmt: skip
    assert other_slug != slug


async def test_an_unreachable_graph_is_a_503_problem(
    http: httpx.AsyncClient, app: bootstrap.Container
) -> None:
    _, admin = await new_shop(http)
    working = app.recommendations
    down = Neo4jGraphStore("bolt://127.0.0.1:1", "neo4j", "x")
    app.recommendations = RecommendationService(down, None)
    try:
        for path in (f"/products/{uuid4()}/recommendations", "/me/recommendations"):
            response = await admin.call("GET", path)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["detail"].startswith("neo4j:")
    finally:
        app.recommendations = working
        await down.close()
