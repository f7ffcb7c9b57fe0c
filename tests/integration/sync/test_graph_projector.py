"""The graph projector on the outbox, end to end on real PostgreSQL (the embedded twin) and on
Neo4j 5: orders, cancellations, refunds, reviews, catalog changes and storefront events reach
the graph; projecting everything again changes nothing; a crash of the projector and of Neo4j
in the middle of thousands of orders leaves no drift."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from polyshop import bootstrap
from polyshop.adapters.neo4j import Neo4jGraphStore
from polyshop.adapters.postgres import PostgresGraphStore, PostgresSimilarCatalog
from polyshop.domain.catalog import ProductStatus
from polyshop.domain.recommendations import SIMILAR_K, RecommendationKind, snapshot_differences
from polyshop.ports import Checkpoint, Drift, GraphStore
from polyshop.services.catalog import ProductDraft
from polyshop.sync import GraphProjector, Relay
from polyshop.sync.graph import STOREFRONT_EVENT, FactsCatalog, product_facts, trend_scale
from polyshop.sync.maintenance import rebuild, start_at_head, verify
from tests.support.shops import Shop, make_shop

BT = RecommendationKind.BOUGHT_TOGETHER


@pytest.fixture
def relay(app: bootstrap.Container) -> Relay:
    return app.relays["graph"]


@pytest.fixture(autouse=True)
async def graph_from_the_head(relay: Relay) -> Checkpoint:
    """The graph relay starts at the head of the outbox (not behind the rest of the suite)."""
    return await start_at_head(relay)


async def _lists(store: GraphStore, tenant_id: UUID) -> dict[str, dict[str, Any]] | None:
    """Neo4j's non-empty for-sale lists (an empty list and none read alike: the relationships
    hold nothing for sale); None on the twin, which keeps none."""
    if not isinstance(store, Neo4jGraphStore):
        return None
    found = await store.for_sale_lists(tenant_id)
    return {rel: {a: v for a, v in lists.items() if v} for rel, lists in found.items()}


def _graph_store(
    app: bootstrap.Container, request: pytest.FixtureRequest, adapter: str
) -> GraphStore:
    """The graph store of the parametrised adapter (Neo4j started only when asked for)."""
    if adapter == "postgres":
        return PostgresGraphStore(app.relay_database)
    server = request.getfixturevalue("neo4j_server")
    return Neo4jGraphStore(server.url, server.user, server.password)


async def drift(relay: Relay, tenant_id: UUID) -> Drift:
    """`polyshop sync verify graph`, for one tenant."""
    return await verify(relay, tenants=[tenant_id])


async def customer(app: bootstrap.Container, shop: Shop, name: str) -> UUID:
    user = await app.customers.register(
        shop.tenant_id, f"{name}@example.com", "correct horse battery staple", name, "Lee"
    )
    return user.id


async def order(shop: Shop, who: UUID, *names: str) -> UUID:
    placed = await shop.app.checkout.place_order(
        shop.tenant_id, shop.request(*(shop.line(n) for n in names), customer_id=who)
    )
    return placed.id


async def storefront(
    app: bootstrap.Container, tenant_id: UUID, events: list[dict[str, Any]]
) -> None:
    """A batch as the storefront API writes it (issue 11's contract)."""
    async with app.database.unit_of_work(tenant_id) as uow:
        await uow.append_event("storefront", uuid.uuid4(), STOREFRONT_EVENT, {"events": [
            {"event_id": str(uuid.uuid4()), "occurred_at": datetime.now(UTC).isoformat(),
             "customer_id": None, "cart_token": None, "session_id": "s1", "product_id": None,
             "category_id": None, "query": None, "quantity": None, **e}
            for e in events
        ]})  # fmt: skip
        await uow.commit()


async def weights(app: bootstrap.Container, shop: Shop, name: str) -> dict[str, float]:
    found = await app.graph.related(shop.tenant_id, shop.products[name], BT, 20)
    return {r.name: r.weight for r in found}


async def test_events_reach_the_graph_and_cancellations_take_their_weight_back(
    app: bootstrap.Container, relay: Relay
) -> None:
    shop = await make_shop(app, stock=1000)
    bob = await customer(app, shop, "bob")
    first = await order(shop, shop.customer_id, "headphones", "cable")
    await order(shop, bob, "headphones", "cable", "speaker")
    await storefront(app, shop.tenant_id, [
        {"type": "view", "customer_id": str(bob), "product_id": str(shop.products["ebook"])},
        {"type": "add_to_cart", "customer_id": str(bob), "product_id": str(shop.products["ebook"])},
        {"type": "search", "query": "cable"},
    ])  # fmt: skip
    await relay.run_until_idle()
    assert await weights(app, shop, "headphones") == {"Cable": 2, "Speaker": 1}
    found = await app.recommendations.for_product(shop.tenant_id, shop.products["headphones"], BT)
    assert [(r.name, r.reason) for r in found] == [
        ("Cable", "bought together 2 times"), ("Speaker", "bought together 1 time")]  # fmt: skip
    signals = {s.name: s for s in await app.graph.signals(shop.tenant_id, bob)}
    assert (signals["Ebook"].viewed, signals["Ebook"].carted) == (1, 1)
    mine = await app.recommendations.for_customer(shop.tenant_id, bob)
    assert mine and {"Headphones", "Cable", "Speaker"}.isdisjoint({r.name for r in mine})

    await app.orders.cancel(shop.tenant_id, first)
    await relay.run_until_idle()
    assert await weights(app, shop, "headphones") == {"Cable": 1, "Speaker": 1}
    # Not for sale any more: gone from every answer.
    await app.catalog.change_status(
        shop.tenant_id, shop.products["speaker"], ProductStatus.INACTIVE
    )
    await relay.run_until_idle()
    assert await weights(app, shop, "headphones") == {"Cable": 1}
    found = await drift(relay, shop.tenant_id)
    assert found.clean and found.checked > 20, found


async def test_projecting_every_event_again_leaves_the_graph_identical(
    app: bootstrap.Container, relay: Relay, graph_from_the_head: Checkpoint
) -> None:
    shop = await make_shop(app, stock=1000)
    bob = await customer(app, shop, "bob")
    orders = [await order(shop, shop.customer_id, "headphones", "cable"),
              await order(shop, bob, "headphones", "speaker"),
              await order(shop, bob, "cable", "ebook")]  # fmt: skip
    await app.orders.refund(shop.tenant_id, orders[1])
    await app.reviews.write(shop.tenant_id, bob, shop.products["cable"], 5, title="Good")
    await storefront(app, shop.tenant_id, [
        {"type": "view", "customer_id": str(bob), "product_id": str(shop.products["preorder"])}])  # fmt: skip
    await relay.run_until_idle()
    once = await app.graph.snapshot(shop.tenant_id)
    assert len(once["Order"]) == 3 and once["VIEWED"] and once["REVIEWED"]
    assert [o[2] for o in once["Order"].values()].count(False) == 1  # the refunded order
    # The relay delivers at least once: replay every event of this test from the start.
    await relay.projector.apply([], graph_from_the_head)
    assert await relay.run_until_idle() > 0
    assert await app.graph.snapshot(shop.tenant_id) == once
    assert (await drift(relay, shop.tenant_id)).clean


async def test_shops_with_the_same_names_never_share_recommendations(
    app: bootstrap.Container, relay: Relay
) -> None:
    alpha, beta = await make_shop(app, stock=1000), await make_shop(app, stock=1000)
    await order(alpha, alpha.customer_id, "headphones", "cable")
    await order(beta, beta.customer_id, "headphones", "speaker")
    await relay.run_until_idle()
    mine = await app.recommendations.for_product(alpha.tenant_id, alpha.products["headphones"], BT)
    assert [r.product_id for r in mine] == [alpha.products["cable"]]
    theirs = set(beta.products.values())
    for kind in RecommendationKind:
        if kind is RecommendationKind.FOR_YOU:
            continue
        found = await app.recommendations.for_product(
            alpha.tenant_id, alpha.products["headphones"], kind
        )
        assert theirs.isdisjoint(r.product_id for r in found), kind
        # Asking one shop about another shop's product finds nothing.
        assert (
            await app.recommendations.for_product(
                alpha.tenant_id, beta.products["headphones"], kind
            )
            == []
        )
    assert theirs.isdisjoint(
        r.product_id
        for r in await app.recommendations.for_customer(alpha.tenant_id, alpha.customer_id)
    )


@pytest.mark.parametrize("adapter", ["postgres", "neo4j"])
async def test_the_bulk_rebuild_builds_the_graph_the_projector_built(
    app: bootstrap.Container, request: pytest.FixtureRequest, adapter: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """`polyshop sync rebuild graph` computes the graph set-based from PostgreSQL; on the same
    data it must hold exactly what projecting every event built, node by node and relationship
    by relationship, on both adapters."""
    store = _graph_store(app, request, adapter)
    relay = Relay(app.relay_database, GraphProjector(app.relay_database, store, name="graph-bulk"))
    await start_at_head(relay)
    shop = await make_shop(app, stock=1000)
    people = [shop.customer_id] + [await customer(app, shop, f"b{i}") for i in range(3)]
    baskets = [("headphones", "cable"), ("headphones", "cable", "speaker"), ("cable", "ebook"),
               ("speaker",), ("headphones", "ebook"), ("cable", "speaker", "ebook")]  # fmt: skip
    placed = [await order(shop, people[n % 4], *basket) for n, basket in enumerate(baskets * 2)]
    await app.orders.cancel(shop.tenant_id, placed[0])
    await app.orders.refund(shop.tenant_id, placed[5])
    await app.reviews.write(shop.tenant_id, people[1], shop.products["cable"], 5, title="Good")
    await app.reviews.write(shop.tenant_id, people[3], shop.products["speaker"], 1, title="Bad")
    await storefront(app, shop.tenant_id, [
        {"type": "view", "customer_id": str(people[3]), "product_id": str(shop.products["shirt"])},
        {"type": "add_to_cart", "customer_id": str(people[3]),
         "product_id": str(shop.products["headphones"])},
        {"type": "view", "product_id": str(shop.products["ebook"])},
    ])  # fmt: skip
    await app.catalog.change_status(shop.tenant_id, shop.products["ebook"], ProductStatus.INACTIVE)
    try:
        await relay.run_until_idle()
        projected = await store.snapshot(shop.tenant_id)
        assert {"PURCHASED", "FREQUENTLY_BOUGHT_WITH", "ALSO_BOUGHT", "SIMILAR_TO", "VIEWED",
                "ADDED_TO_CART", "REVIEWED"} <= projected.keys()  # fmt: skip
        # Neo4j's for-sale lists (what its reads take): the ebook, bought with the others and
        # then taken off sale, is in none of them; the cable, bought most, is.
        lists = await _lists(store, shop.tenant_id)
        if lists is not None:
            listed = {b for rel in lists.values() for v in rel.values() for b, _ in v}
            assert str(shop.products["cable"]) in listed
            assert str(shop.products["ebook"]) not in listed

        async def no_replay(*_: Any) -> Any:
            raise AssertionError("the rebuild must not project target by target")

        monkeypatch.setattr(relay.projector, "build", no_replay)
        assert await rebuild(relay, tenants=[shop.tenant_id]) > 0
        monkeypatch.undo()
        rebuilt = await store.snapshot(shop.tenant_id)
        assert snapshot_differences(projected, rebuilt, float_scale=trend_scale()) == []
        assert rebuilt.keys() == projected.keys()
        assert await _lists(store, shop.tenant_id) == lists  # the same, built set-based
        # And the projector goes on from the rebuilt graph: one more order, still no drift.
        await order(shop, people[0], "headphones", "speaker")
        assert await relay.run_until_idle() > 0
        found = await verify(relay, tenants=[shop.tenant_id])
        assert found.clean and found.checked > 30, found
    finally:
        await store.clear(shop.tenant_id)
        await store.close()


async def test_a_crash_of_the_projector_and_of_neo4j_leaves_no_drift(
    app: bootstrap.Container, neo4j_server: Any
) -> None:
    """Thousands of orders; the projector is killed mid-run, then Neo4j is killed (SIGKILL)
    while the projector works; after a restart the graph matches PostgreSQL exactly."""
    store = Neo4jGraphStore(neo4j_server.url, neo4j_server.user, neo4j_server.password)
    relay = Relay(app.relay_database, GraphProjector(app.relay_database, store, name="graph-fault"))
    origin = await start_at_head(relay)
    shop = await make_shop(app, stock=100_000)
    people = [shop.customer_id] + [await customer(app, shop, f"c{i}") for i in range(19)]
    names = ["headphones", "speaker", "cable", "ebook", "preorder"]

    async def place(n: int) -> None:
        basket = [names[n % 5], names[(n * 7 + 1) % 5]]
        await order(shop, people[n % len(people)], *dict.fromkeys(basket))

    for first in range(0, 2000, 50):
        await asyncio.gather(*(place(n) for n in range(first, first + 50)))
    for order_id in await _some_orders(app, shop, 40):
        await app.orders.cancel(shop.tenant_id, order_id)
    stop = asyncio.Event()
    worker = asyncio.create_task(relay.run(app.urls.postgres, stop, poll_seconds=0.2))
    await _until(lambda: _moved(relay, origin), 0.2)
    worker.cancel()  # the projector is killed mid-run
    await asyncio.gather(worker, return_exceptions=True)
    assert (await relay.pending())[0] > 0

    stop = asyncio.Event()
    worker = asyncio.create_task(relay.run(app.urls.postgres, stop, poll_seconds=0.2))
    await asyncio.sleep(0.5)
    neo4j_server.kill()  # and Neo4j dies while it works
    await asyncio.sleep(1)
    assert not worker.done()  # the relay waits for the store instead of dying
    neo4j_server.start()
    await _until(lambda: _caught_up(relay), 1, within=300)
    stop.set()
    async with asyncio.timeout(30):
        await worker
    try:
        found = await drift(relay, shop.tenant_id)
        assert found.clean and found.checked > 2000, found
        snapshot = await store.snapshot(shop.tenant_id)
        assert len(snapshot["Order"]) == 2000
        assert sum(1 for o in snapshot["Order"].values() if not o[2]) == 40
    finally:
        await store.clear(shop.tenant_id)
        await store.close()


async def _some_orders(app: bootstrap.Container, shop: Shop, n: int) -> list[UUID]:
    async with app.database.unit_of_work(shop.tenant_id) as uow:
        cursor = await uow.connection.execute("SELECT id FROM orders ORDER BY id LIMIT %s", (n,))
        return [row[0] for row in await cursor.fetchall()]


async def _moved(relay: Relay, start: Checkpoint) -> bool:
    return (await relay.checkpoint()).event_id != start.event_id


async def _caught_up(relay: Relay) -> bool:
    return (await relay.pending())[0] == 0


async def _until(check: Any, poll: float, within: float = 120) -> None:
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(poll)


async def _similar_shop(
    app: bootstrap.Container, rng: random.Random, n: int = 40
) -> tuple[Shop, list[UUID]]:
    """A shop with more similar products than SIMILAR_K per product: two categories, two
    brands (and none), attributes from a small pool (many equal scores), some not for sale."""
    shop = await make_shop(app)
    t = shop.tenant_id
    video = (await app.catalog.create_category(t, "Video", parent_id=shop.root_category)).id
    other_brand = await app.catalog.create_brand(t, "Zenith")
    made = []
    for i in range(n):
        attributes = rng.sample([("colour", "black"), ("colour", "white"), ("wireless", "true"),
                                 ("size", "m"), ("material", "steel"), ("eco", "true")],
                                rng.randint(0, 5))  # fmt: skip
        made.append(await app.catalog.create_product(t, ProductDraft(
            name=f"Item {i}", sku=f"ITEM-{i}", price="10.00",
            category_id=rng.choice([shop.category, video]), vendor_id=shop.vendor_id,
            brand_id=rng.choice([shop.brand_id, other_brand, None]),
            status=ProductStatus.ACTIVE if rng.random() > 0.15 else ProductStatus.DRAFT,
            attributes=tuple((name, value, "text") for name, value in dict(attributes).items()),
        )))  # fmt: skip
    return shop, made


async def _change_catalog(app: bootstrap.Container, shop: Shop, ids: list[UUID],
                          rng: random.Random) -> None:  # fmt: skip
    """One random catalog change: create, move, rebrand, other attributes, (un)publish,
    archive."""
    t, product = shop.tenant_id, rng.choice(ids)
    kind = rng.choice(["create", "category", "brand", "attribute", "status"])
    if kind == "create":
        ids.append(await app.catalog.create_product(t, ProductDraft(
            name=f"New {len(ids)}", sku=f"NEW-{len(ids)}", price="5.00", category_id=shop.category,
            vendor_id=shop.vendor_id, brand_id=shop.brand_id, status=ProductStatus.ACTIVE,
            attributes=(("colour", rng.choice(["black", "white"]), "text"),),
        )))  # fmt: skip
        return
    current = await app.catalog.product(t, product_id=product)
    if kind == "category":
        target = rng.choice([shop.category, shop.root_category])
        await app.catalog.update_product(t, product, category_id=target)
    elif kind == "brand":
        await app.catalog.update_product(t, product, brand_id=rng.choice([shop.brand_id, None]))
    elif kind == "attribute":
        if rng.random() < 0.5 and current["attributes"]:
            await app.catalog.remove_attribute(t, product, current["attributes"][0]["name"])
        else:
            await app.catalog.set_attribute(
                t, product, rng.choice(["colour", "size"]), rng.choice(["black", "m"])
            )
    else:
        status = ProductStatus(current["status"])
        target = {ProductStatus.ACTIVE: rng.choice([ProductStatus.INACTIVE, ProductStatus.ARCHIVED]),
                  ProductStatus.INACTIVE: ProductStatus.ACTIVE,
                  ProductStatus.DRAFT: ProductStatus.ACTIVE,
                  ProductStatus.ARCHIVED: ProductStatus.DRAFT}[status]  # fmt: skip
        await app.catalog.change_status(t, product, target)


async def test_sql_ranks_similar_products_like_the_domain_rule(app: bootstrap.Container) -> None:
    """The SQL ranking over PostgreSQL's catalog gives, per product, exactly the pure rule's
    best SIMILAR_K (`domain.recommendations.top_similar`), asked for some products, for every
    product, or streamed in small pages. About 45 products a category: some lists are filled
    by the category alone (the brand's array skipped), others are not."""
    shop, made = await _similar_shop(app, random.Random(3), n=90)
    async with app.relay_database.unit_of_work(shop.tenant_id) as uow:
        every = [*made, *shop.products.values()]
        facts = FactsCatalog(await product_facts(uow, every))
        sql = PostgresSimilarCatalog(uow.connection)
        want = sorted(await facts.top_similar(every))
        assert len({a for a, _, _ in want}) > 30
        assert max(sum(1 for a, _, _ in want if a == p) for p in every) == SIMILAR_K
        assert sorted(await sql.top_similar(every)) == want
        assert sorted(await sql.top_similar(made[:3])) == sorted(await facts.top_similar(made[:3]))
        assert sorted(await sql.reaching(made[:5])) == sorted(await facts.reaching(made[:5]))
        pages = [page async for page in sql.every_top_similar(7)]
        assert len(pages) > 10 and sorted(e for page in pages for e in page) == want


@pytest.mark.parametrize("adapter", ["postgres", "neo4j"])
async def test_similar_to_follows_random_catalog_changes_exactly(
    app: bootstrap.Container, request: pytest.FixtureRequest, adapter: str
) -> None:
    """Random catalog changes through the catalog service, projected batch by batch: `verify`
    (the store against SIMILAR_TO ranked from scratch over the catalog) finds no drift after
    each round; the bulk rebuild then gives the same graph; the other shop is never touched."""
    store = _graph_store(app, request, adapter)
    relay = Relay(app.relay_database, GraphProjector(app.relay_database, store, name="graph-sim"))
    await start_at_head(relay)
    rng = random.Random(5)
    shop, made = await _similar_shop(app, rng)
    neighbour, _ = await _similar_shop(app, rng)
    try:
        await relay.run_until_idle()
        theirs = await store.snapshot(neighbour.tenant_id)
        for round_ in range(6):
            for _ in range(rng.randint(1, 4)):
                await _change_catalog(app, shop, made, rng)
            await relay.run_until_idle()
            found = await verify(relay, tenants=[shop.tenant_id])
            assert found.clean and found.checked > 40, (round_, found)
        projected = await store.snapshot(shop.tenant_id)
        sources = [k.split(">")[0] for k in projected["SIMILAR_TO"]]
        assert max(sources.count(s) for s in set(sources)) == SIMILAR_K
        mine = {str(p) for p in [*made, *shop.products.values()]}
        assert {k.split(">")[1] for k in projected["SIMILAR_TO"]} <= mine
        assert await rebuild(relay, tenants=[shop.tenant_id]) > 0
        rebuilt = await store.snapshot(shop.tenant_id)
        assert snapshot_differences(projected, rebuilt, float_scale=trend_scale()) == []
        assert await store.snapshot(neighbour.tenant_id) == theirs
    finally:
        await store.clear(shop.tenant_id)
        await store.clear(neighbour.tenant_id)
        await store.close()
