"""`polyshop sync verify graph` streamed: both sides read a few items at a time and merged in
key order must report exactly what the in-memory comparison (the whole expected graph built by
the projector's own path, against the whole snapshot) reports, on both adapters, with drift
planted at the pages' edges."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest

from polyshop import bootstrap
from polyshop.domain.catalog import ProductStatus
from polyshop.domain.recommendations import PairDeltas, RecommendationKind
from polyshop.ports import Drift, GraphStore
from polyshop.sync import GraphProjector, Relay
from polyshop.sync.graph import order_facts, product_facts, trend_scale
from polyshop.sync.maintenance import start_at_head, verify
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
        # Two items a page: every label and type was read in several pages.
        assert len(pages) > 3 * len(set(pages)) and len(set(pages)) == 10

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
        assert set(streamed.missing) == {
            (t, "ALSO_BOUGHT", also[0]),
            (t, "ALSO_BOUGHT", also[2]),
            (t, "ALSO_BOUGHT", also[-1]),
            (t, "PURCHASED", purchased[-1]),
        }
        assert set(streamed.extra) == {
            (t, "Product", str(FIRST)),
            (t, "Product", str(LAST)),
            (t, "Order", str(LAST)),
            (t, "FREQUENTLY_BOUGHT_WITH", f"{FIRST}>{products[0]}"),
            (t, "FREQUENTLY_BOUGHT_WITH", f"{products[-1]}>{LAST}"),
            (t, "PURCHASED", f"{buyer}>{FIRST}"),
        }
        assert set(streamed.different) == {
            (t, "Product", products[1]),
            (t, "Order", orders[2]),
            (t, "FREQUENTLY_BOUGHT_WITH", together[1]),
        }
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
