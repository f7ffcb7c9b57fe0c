"""The analytics projector on the outbox: storefront batches and committed orders (purchases,
status changes, refunds) reach the analytics store once each, whatever is replayed, and
`sync verify analytics` finds no drift."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from polyshop import bootstrap
from polyshop.domain.analytics import AnalyticsEvent, EventType, Funnel
from polyshop.ports import Checkpoint
from polyshop.sync.maintenance import verify
from tests.support.shops import make_shop


async def test_storefront_events_and_orders_become_analytics(app: bootstrap.Container) -> None:
    relay = app.relays["analytics"]
    await relay.run_until_idle()
    shop = await make_shop(app, stock=50)
    t = shop.tenant_id
    headphones = shop.products["headphones"]
    now = datetime.now(UTC)
    today = now.date()
    seen = [
        AnalyticsEvent(t, uuid4(), EventType.VIEW, now - timedelta(seconds=30),
                       customer_id=shop.customer_id, product_id=headphones,
                       category_id=shop.category),
        AnalyticsEvent(t, uuid4(), EventType.VIEW, now - timedelta(seconds=29),
                       cart_token="anon-1", product_id=headphones, category_id=shop.category),
        AnalyticsEvent(t, uuid4(), EventType.ADD_TO_CART, now - timedelta(seconds=20),
                       customer_id=shop.customer_id, product_id=headphones,
                       category_id=shop.category, quantity=2),
    ]  # fmt: skip
    await app.analytics.record_storefront(t, seen)
    placed = await app.checkout.place_order(
        t, shop.request(shop.line("headphones", 2), shop.line("cable"))
    )
    other = await app.checkout.place_order(t, shop.request(shop.line("speaker")))
    await app.orders.mark_processing(t, placed.id)
    await app.orders.refund(t, other.id, "10.00")
    await app.orders.refund(t, other.id)  # the rest: a full refund
    # Nothing reaches the analytics store before the projector runs: ingest is the outbox.
    assert await app.analytics.timeline(t, today, customer_id=shop.customer_id) == []

    assert await relay.run_until_idle() > 0
    funnel = await app.analytics.funnel(t, today, product_id=headphones)
    assert funnel == Funnel(views=2, add_to_cart=1, purchases=1, revenue=Decimal("100.00"))
    category = await app.analytics.funnel(t, today, category_id=shop.category)
    assert category.purchases == 3
    assert category.revenue == Decimal("100.00") + Decimal("4.99") + Decimal("30.00")
    timeline = await app.analytics.timeline(t, today, customer_id=shop.customer_id)
    assert [e.type for e in timeline][:2] == [EventType.VIEW, EventType.ADD_TO_CART]
    assert {e.type for e in timeline} >= {EventType.PURCHASE, EventType.ORDER_STATUS}
    history = await app.analytics.order_history(t, other.id)
    refunds = [e.amount for e in history if e.type == EventType.REFUND]
    assert sorted(refunds) == sorted([Decimal("10.00"), other.total - Decimal("10.00")])
    statuses = [e.detail for e in history if e.type == EventType.ORDER_STATUS]
    assert statuses[-1] is not None and statuses[-1].endswith("->refunded")
    top = await app.analytics.top_products(t, today, by="revenue")
    assert [r.product_id for r in top] == [
        headphones,
        shop.products["speaker"],
        shop.products["cable"],
    ]
    assert (await verify(relay, tenants=[t])).clean


async def test_a_replayed_outbox_counts_nothing_twice(app: bootstrap.Container) -> None:
    relay = app.relays["analytics"]
    await relay.run_until_idle()
    start = await relay.checkpoint()
    shop = await make_shop(app, stock=50)
    t = shop.tenant_id
    for _ in range(3):
        await app.checkout.place_order(t, shop.request(shop.line("speaker")))
    await relay.run_until_idle()
    today = datetime.now(UTC).date()
    before = await app.analytics.funnel(t, today, product_id=shop.products["speaker"])
    assert before.purchases == 3
    # Back to where this test began, as after a crash between the store write and the checkpoint.
    await relay.projector.apply([], Checkpoint(relay.name, start.transaction_id, start.event_id))
    assert await relay.run_until_idle() > 0
    assert await app.analytics.funnel(t, today, product_id=shop.products["speaker"]) == before
    drift = await verify(relay, tenants=[t])
    assert drift.clean and drift.checked >= 3
