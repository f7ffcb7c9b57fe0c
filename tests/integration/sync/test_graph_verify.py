"""`polyshop sync verify graph` streamed: both sides read a few items at a time and merged in
key order must report exactly what the in-memory comparison (the whole expected graph built by
the projector's own path, against the whole snapshot) reports, on both adapters, with drift
planted at the pages' edges."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest
from neo4j import AsyncGraphDatabase

from polyshop import bootstrap
from polyshop.adapters.neo4j import Neo4jGraphStore
from polyshop.domain.catalog import ProductStatus
from polyshop.domain.recommendations import PairDeltas, RecommendationKind, snapshot_drift
from polyshop.ports import Drift, GraphStore
from polyshop.sync import GraphProjector, Relay
from polyshop.sync.graph import order_facts, product_facts, stored_lists, trend_scale, verify_graph
from polyshop.sync.maintenance import rebuild, start_at_head, verify
from polyshop.sync.relay import snapshot_version
from tests.integration.sync.test_graph_projector import _graph_store, customer, order, storefront
from tests.support.shops import make_shop

FIRST, LAST = UUID(int=1), UUID(int=2**128 - 1)  # ids before and after every other


@pytest.fixture
async def relay(app: bootstrap.Container) -> Relay:
    """The application's graph relay, from the head of the outbox (not behind the suite)."""
    found = app.relays["graph"]
    await start_at_head(found)
    return found


async def in_memory(projector: GraphProjector, tenant_id: UUID) -> Drift:
    """The comparison as it was: every target built, the expected graph held in memory."""
    async with projector.database.unit_of_work(tenant_id) as uow:
        version = await snapshot_version(uow)
        expected = await projector.build(uow, await projector.everything(uow), version)
    return await projector.compare(tenant_id, expected)


def pair(key: str) -> tuple[UUID, UUID]:
    a, b = key.split(">")
    return UUID(a), UUID(b)


@pytest.mark.parametrize("adapter", ["postgres", "neo4j"])
async def test_the_streamed_verify_finds_drift_at_page_edges_as_the_in_memory_one_does(
    app: bootstrap.Container, request: pytest.FixtureRequest, adapter: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    store = _graph_store(app, request, adapter)
    projector = GraphProjector(app.relay_database, store, name="graph-verify", verify_chunk=2)
    relay = Relay(app.relay_database, projector)
    await start_at_head(relay)
    shop = await make_shop(app, stock=1000)
    t = shop.tenant_id
    people = [shop.customer_id] + [await customer(app, shop, f"v{i}") for i in range(3)]
    baskets = [("headphones", "cable"), ("headphones", "cable", "speaker"), ("cable", "ebook"),
               ("speaker", "preorder"), ("headphones", "ebook"), ("cable", "speaker", "ebook")]  # fmt: skip
    placed = [await order(shop, people[n % 4], *basket) for n, basket in enumerate(baskets * 2)]
    await app.orders.cancel(t, placed[0])
    await app.orders.refund(t, placed[5])
    await app.reviews.write(t, people[1], shop.products["cable"], 5, title="Good")
    await app.reviews.write(t, people[3], shop.products["speaker"], 1, title="Bad")
    await storefront(app, t, [
        {"type": "view", "customer_id": str(people[3]), "product_id": str(shop.products["shirt"])},
        {"type": "view", "customer_id": str(people[2]), "product_id": str(shop.products["shirt"])},
        {"type": "add_to_cart", "customer_id": str(people[3]),
         "product_id": str(shop.products["headphones"])},
        {"type": "view", "product_id": str(shop.products["ebook"])},
    ])  # fmt: skip
    await app.catalog.change_status(t, shop.products["ebook"], ProductStatus.INACTIVE)
    pages: list[str] = []
    paged = store.snapshot_page

    async def counted(*args: Any) -> Any:
        pages.append(args[1])
        return await paged(*args)

    monkeypatch.setattr(store, "snapshot_page", counted)
    try:
        await relay.run_until_idle()
        streamed = await verify(relay, tenants=[t])
        held = await in_memory(projector, t)
        assert streamed.clean and held.clean and streamed.checked == held.checked > 60, streamed
        # Two items a page: every label and type was read in several pages (and Neo4j's
        # for-sale lists, three more labels; the twin keeps none).
        assert len(pages) > 3 * len(set(pages)) and len(set(pages)) == 10 + len(store.lists)
        assert len(store.lists) == (3 if adapter == "neo4j" else 0)
        lists = await stored_lists(store, t)  # as PostgreSQL's facts rank them (clean)

        snap = await store.snapshot(t)
        products, orders = sorted(snap["Product"]), sorted(snap["Order"])
        also, together = sorted(snap["ALSO_BOUGHT"]), sorted(snap["FREQUENTLY_BOUGHT_WITH"])
        purchased = sorted(snap["PURCHASED"])
        assert min(len(also), len(together), len(purchased), len(orders)) >= 4
        buyer = pair(purchased[0])[0]
        async with app.relay_database.unit_of_work(t) as uow:
            renamed = (await product_facts(uow, [UUID(products[1])]))[0]
            paid = (await order_facts(uow, [UUID(orders[2])]))[0]
        async with store.writer(t) as writer:
            # Extra nodes and relationships before the first key and after the last.
            await writer.put_products([replace(renamed, id=FIRST, name="Ghost first"),
                                       replace(renamed, id=LAST, name="Ghost last"),
                                       replace(renamed, name="Renamed")])  # fmt: skip
            await writer.put_orders([replace(paid, payment_method="cash"),
                                     replace(paid, id=LAST, counted=False)])  # fmt: skip
            await writer.add_pairs(RecommendationKind.BOUGHT_TOGETHER, PairDeltas.of({
                (FIRST, UUID(products[0])): 1, (UUID(products[-1]), LAST): 1,
                pair(together[1]): 1}))  # fmt: skip
            # Missing: the first, a page's first and the last relationship.
            await writer.add_pairs(RecommendationKind.ALSO_BOUGHT, PairDeltas.of({
                pair(key): -snap["ALSO_BOUGHT"][key][0] for key in (also[0], also[2], also[-1])
            }))  # fmt: skip
            await writer.put_purchased({pair(purchased[-1]): (0, None),
                                        (buyer, FIRST): (1, paid.placed_at)})  # fmt: skip

        streamed = await verify(relay, tenants=[t])
        assert streamed == await in_memory(projector, t)
        # The writer kept Neo4j's lists in step with the planted relationships, so the lists
        # it changed are the lists' drift (PostgreSQL's facts rank other relationships): the
        # ghost's, if its partner is for sale; the changed pair's source's, if its partner is.
        list_drift = [{(t, label, key) for label, key in found}
                      for found in snapshot_drift(lists, await stored_lists(store, t))]  # fmt: skip
        sale = {key for key, node in snap["Product"].items() if node[1]}
        a, b = together[1].split(">")
        ghost = (t, "list:FREQUENTLY_BOUGHT_WITH", str(FIRST))
        assert (ghost in list_drift[1]) is (adapter == "neo4j" and products[0] in sale)
        if b in sale and a != products[-1]:
            assert ((t, "list:FREQUENTLY_BOUGHT_WITH", a) in list_drift[2]) is (adapter == "neo4j")
        if adapter == "postgres":
            assert list_drift == [set(), set(), set()]
        assert set(streamed.missing) == {
            (t, "ALSO_BOUGHT", also[0]),
            (t, "ALSO_BOUGHT", also[2]),
            (t, "ALSO_BOUGHT", also[-1]),
            (t, "PURCHASED", purchased[-1]),
        } | list_drift[0]  # fmt: skip
        assert set(streamed.extra) == {
            (t, "Product", str(FIRST)),
            (t, "Product", str(LAST)),
            (t, "Order", str(LAST)),
            (t, "FREQUENTLY_BOUGHT_WITH", f"{FIRST}>{products[0]}"),
            (t, "FREQUENTLY_BOUGHT_WITH", f"{products[-1]}>{LAST}"),
            (t, "PURCHASED", f"{buyer}>{FIRST}"),
        } | list_drift[1]  # fmt: skip
        assert set(streamed.different) == {
            (t, "Product", products[1]),
            (t, "Order", orders[2]),
            (t, "FREQUENTLY_BOUGHT_WITH", together[1]),
        } | list_drift[2]  # fmt: skip
    finally:
        await store.clear(t)
        await store.close()


async def test_a_trend_within_the_tolerance_is_no_drift_and_beyond_it_is(
    app: bootstrap.Container, relay: Relay
) -> None:
    """Trend sums are compared within 1e-9 of a contribution made now (the same contributions
    added in another order differ in their last bits); the streamed verify keeps that rule."""
    shop = await make_shop(app, stock=1000)
    await order(shop, shop.customer_id, "headphones", "cable")
    await relay.run_until_idle()
    store: GraphStore = relay.projector.store  # type: ignore[attr-defined]
    headphones = shop.products["headphones"]
    async with store.writer(shop.tenant_id) as writer:
        await writer.add_trend({headphones: (1e-12 * trend_scale(), 0)})
    assert (await verify(relay, tenants=[shop.tenant_id])).clean
    async with store.writer(shop.tenant_id) as writer:
        await writer.add_trend({headphones: (1e-6 * trend_scale(), 0)})
    found = await verify(relay, tenants=[shop.tenant_id])
    assert found.different == [(shop.tenant_id, "Product", str(headphones))] and not found.missing


async def _cypher(server: Any, query: str, **params: Any) -> list[Any]:
    """A write behind the projector's back, as a bug or a half-done write would leave it."""
    driver = AsyncGraphDatabase.driver(server.url, auth=(server.user, server.password))
    try:
        records, _, _ = await driver.execute_query(query, params)
        return records
    finally:
        await driver.close()


def _lists_only(drift: Drift) -> tuple[set[Any], set[Any], set[Any]]:
    def pick(found: list[tuple[UUID, str, str]]) -> set[Any]:
        return {item for item in found if item[1].startswith("list:")}

    return pick(drift.missing), pick(drift.extra), pick(drift.different)


async def test_verify_finds_every_corrupted_for_sale_list_on_neo4j(
    app: bootstrap.Container, neo4j_server: Any
) -> None:
    """Neo4j's for-sale lists (what `related` and for_you read instead of the relationships)
    checked against PostgreSQL's relationships for sale, ranked: a clean graph has no drift
    and counts its lists; each corruption made directly in Neo4j (an entry dropped, two
    swapped, a weight changed, a product not for sale added, a list on a product without
    partners for sale, the property removed) is reported as exactly that product and list,
    and a relationship's score changed without its list as that relationship alone; in pages
    of two as in pages of a thousand, as the in-memory comparison reports it; `sync rebuild
    graph` mends them; a graph without any list (built before them) is all missing."""
    store = Neo4jGraphStore(neo4j_server.url, neo4j_server.user, neo4j_server.password)
    projector = GraphProjector(app.relay_database, store, name="graph-lists", verify_chunk=2)
    relay = Relay(app.relay_database, projector)
    await start_at_head(relay)
    shop = await make_shop(app, stock=1000)
    t, p = shop.tenant_id, {name: str(i) for name, i in shop.products.items()}
    people = [shop.customer_id] + [await customer(app, shop, f"l{i}") for i in range(3)]
    baskets = [("headphones", "cable", "speaker"), ("headphones", "cable"), ("speaker", "ebook"),
               ("preorder", "cable", "speaker"), ("headphones", "preorder", "ebook"),
               ("cable", "speaker", "preorder")]  # fmt: skip
    for n, basket in enumerate(baskets * 2):
        await order(shop, people[n % 4], *basket)
    await app.catalog.change_status(t, shop.products["ebook"], ProductStatus.INACTIVE)
    try:
        await relay.run_until_idle()
        clean = await verify(relay, tenants=[t])
        lists = await stored_lists(store, t)
        graph = await store.snapshot(t)
        assert clean.clean, clean
        # Every list counted, one item each, with the nodes and relationships.
        assert clean.checked == sum(map(len, graph.values())) + sum(map(len, lists.values()))
        together, also = lists["list:FREQUENTLY_BOUGHT_WITH"], lists["list:ALSO_BOUGHT"]
        similar = lists["list:SIMILAR_TO"]
        # The data has what the corruptions need: lists of two or more, the ebook in none.
        assert min(len(together[p["headphones"]][0]), len(also[p["speaker"]][0]),
                   len(similar[p["cable"]][0]), len(together[p["preorder"]][0])) >= 2  # fmt: skip
        assert p["cable"] in also and p["shirt"] not in together
        assert all(p["ebook"] not in v[0] for found in lists.values() for v in found.values())

        product = "MATCH (a:Product {tenant_id: $t, id: $id}) "
        for query, name in [
            # Its last entry dropped.
            ("SET a.sale_together = a.sale_together[0..-1],"
             " a.sale_together_w = a.sale_together_w[0..-1]", "headphones"),
            # Its first two entries swapped (ids with their weights).
            ("SET a.sale_also_bought = [a.sale_also_bought[1], a.sale_also_bought[0]]"
             " + a.sale_also_bought[2..], a.sale_also_bought_w = [a.sale_also_bought_w[1],"
             " a.sale_also_bought_w[0]] + a.sale_also_bought_w[2..]", "speaker"),
            # A weight changed (by less than the trend's tolerance, 1e-9 x 2^47).
            ("SET a.sale_similar_w = [a.sale_similar_w[0] + 0.5] + a.sale_similar_w[1..]",
             "cable"),
            # A product not for sale added (as a read would show it).
            ("SET a.sale_together = a.sale_together + $ebook,"
             " a.sale_together_w = a.sale_together_w + 1", "preorder"),
            # A list on a product bought with nothing.
            ("SET a.sale_together = [$cable], a.sale_together_w = [1]", "shirt"),
            # The property removed (reads fall back to the relationships, slowly).
            ("REMOVE a.sale_also_bought, a.sale_also_bought_w", "cable"),
        ]:  # fmt: skip
            await _cypher(neo4j_server, product + query, t=str(t), id=p[name], ebook=p["ebook"],
                          cable=p["cable"])  # fmt: skip
        # And a relationship's score changed behind its list's back: the relationship
        # differs, the list (what PostgreSQL's facts rank) does not.
        (changed,) = await _cypher(neo4j_server, product + "MATCH (a)-[r:SIMILAR_TO]->(b)"
                                   " WITH a, r, b ORDER BY b.id LIMIT 1 SET r.score = r.score + 0.5"
                                   " RETURN a.id + '>' + b.id", t=str(t), id=p["speaker"])  # fmt: skip

        found = await verify(relay, tenants=[t])
        assert _lists_only(found) == (
            {(t, "list:ALSO_BOUGHT", p["cable"])},
            {(t, "list:FREQUENTLY_BOUGHT_WITH", p["shirt"])},
            {(t, "list:FREQUENTLY_BOUGHT_WITH", p["headphones"]),
             (t, "list:ALSO_BOUGHT", p["speaker"]),
             (t, "list:SIMILAR_TO", p["cable"]),
             (t, "list:FREQUENTLY_BOUGHT_WITH", p["preorder"])},
        )  # fmt: skip
        # Nothing else, but the relationship.
        assert len(found.missing) + len(found.extra) + len(found.different) == 7
        assert (t, "SIMILAR_TO", changed[0]) in found.different
        assert found.checked == clean.checked
        # Pages of a thousand find the same; so does the in-memory comparison.
        assert await verify_graph(app.relay_database, store, t, trend_scale(), 1000) == found
        assert await in_memory(projector, t) == found

        assert await rebuild(relay, tenants=[t]) > 0
        assert await verify(relay, tenants=[t]) == clean
        # A graph built before the lists: every list is missing, nothing else.
        await _cypher(neo4j_server, "MATCH (a:Product {tenant_id: $t}) REMOVE a.sale_together,"
                      " a.sale_together_w, a.sale_also_bought, a.sale_also_bought_w,"
                      " a.sale_similar, a.sale_similar_w", t=str(t))  # fmt: skip
        old = await verify(relay, tenants=[t])
        assert set(old.missing) == {(t, label, key) for label, found_lists in lists.items()
                                    for key in found_lists}  # fmt: skip
        assert not old.extra and not old.different and old.checked == clean.checked
    finally:
        await store.clear(t)
        await store.close()
