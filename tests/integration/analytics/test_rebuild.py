"""The analytics rebuild and verify in bounded chunks: the bulk path of the PostgreSQL twin
(COPY, rollups recomputed set-based) leaves exactly the store the incremental projector built
from the same outbox, and verify (streamed day by day) finds no drift there but names each kind
of damage."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg

from polyshop import bootstrap
from polyshop.domain.analytics import AnalyticsEvent, EventType
from polyshop.sync.maintenance import rebuild, verify
from tests.support.shops import Shop, make_shop

# Every row of a shop's twin, in a comparable order.
_TABLES = {
    "analytics_events": "SELECT id, event_type, user_key, product_id, category_id, order_id,"
    " quantity, amount, properties, created_at FROM analytics_events WHERE tenant_id = %s"
    " ORDER BY id",
    "analytics_rollups": "SELECT subject_kind, subject_id, hour, event_type, events, amount,"
    " last_at FROM analytics_rollups WHERE tenant_id = %s ORDER BY 1, 2, 3, 4",
    "analytics_daily_products": "SELECT day, product_id, views, purchases, revenue, last_at"
    " FROM analytics_daily_products WHERE tenant_id = %s ORDER BY 1, 2",
}


def snapshot(admin: psycopg.Connection[Any], tenant: UUID) -> dict[str, list[Any]]:
    return {name: admin.execute(sql, (tenant,)).fetchall() for name, sql in _TABLES.items()}


def wipe(admin: psycopg.Connection[Any], tenant: UUID) -> None:
    for table in _TABLES:
        admin.execute(f"DELETE FROM {table} WHERE tenant_id = %s", (tenant,))


async def shop_with_traffic(app: bootstrap.Container) -> Shop:
    """Storefront batches over three days (several chunks of outbox rows), orders, a refund."""
    shop = await make_shop(app, stock=200)
    t = shop.tenant_id
    rng = random.Random(15)
    products = [shop.products[n] for n in ("headphones", "speaker", "cable", "ebook")]
    now = datetime.now(UTC)
    for batch in range(30):
        events = []
        for _ in range(40):
            kind = rng.choice([EventType.VIEW] * 4 + [EventType.ADD_TO_CART, EventType.SEARCH])
            who: dict[str, Any] = (
                {"customer_id": shop.customer_id, "session_id": f"s-{batch}"}
                if rng.random() < 0.25 else {"cart_token": f"visitor-{rng.randrange(12)}"}
            )  # fmt: skip
            what: dict[str, Any] = (
                {"query": f"lamp {rng.randrange(3)}"} if kind == EventType.SEARCH
                else {"product_id": rng.choice(products), "category_id": shop.category,
                      "quantity": 1 + rng.randrange(2)}
            )  # fmt: skip
            when = now - timedelta(days=batch % 3, minutes=rng.randrange(600))
            events.append(AnalyticsEvent(t, uuid4(), kind, when, **who, **what))
        await app.analytics.record_storefront(t, events)
    for name in ("headphones", "speaker", "speaker", "cable"):
        order = await app.checkout.place_order(t, shop.request(shop.line(name)))
    await app.orders.refund(t, order.id)
    return shop


async def test_the_bulk_rebuild_leaves_what_the_projector_built(
    app: bootstrap.Container, admin: psycopg.Connection[Any]
) -> None:
    relay = app.relays["analytics"]
    await relay.run_until_idle()
    shop = await shop_with_traffic(app)
    t = shop.tenant_id
    await relay.run_until_idle()
    incremental = snapshot(admin, t)
    assert len(incremental["analytics_events"]) > 1200
    assert incremental["analytics_daily_products"]

    wipe(admin, t)
    seen: list[tuple[int, int]] = []
    written = await rebuild(relay, lambda done, total: seen.append((done, total)), tenants=[t])
    assert written == len(incremental["analytics_events"])
    assert snapshot(admin, t) == incremental
    assert seen and seen[-1][0] == seen[-1][1] and len(seen) > 1  # progress, not just "done"

    # Again over a full store: nothing doubles (events are keyed, rollups recomputed).
    await rebuild(relay, tenants=[t])
    assert snapshot(admin, t) == incremental
    drift = await verify(relay, tenants=[t])
    assert drift.clean
    assert drift.checked == len(incremental["analytics_events"])


async def test_verify_names_a_lost_event_a_double_count_and_a_wrong_ranking(
    app: bootstrap.Container, admin: psycopg.Connection[Any]
) -> None:
    relay = app.relays["analytics"]
    await relay.run_until_idle()
    shop = await shop_with_traffic(app)
    t = shop.tenant_id
    await relay.run_until_idle()
    assert (await verify(relay, tenants=[t])).clean

    lost = admin.execute(
        "DELETE FROM analytics_events WHERE id = (SELECT id FROM analytics_events"
        " WHERE tenant_id = %s AND user_key IS NOT NULL AND order_id IS NULL ORDER BY id LIMIT 1)"
        " RETURNING id",
        (t,),
    ).fetchone()
    assert lost is not None
    admin.execute(
        "UPDATE analytics_rollups SET events = events + 1 WHERE (tenant_id, subject_id, hour)"
        " = (SELECT tenant_id, subject_id, hour FROM analytics_rollups WHERE tenant_id = %s"
        " AND subject_kind = 'product' AND event_type = 'view' ORDER BY hour LIMIT 1)"
        " AND event_type = 'view' AND subject_kind = 'product'",
        (t,),
    )
    # The day's least viewed product pushed to the top of that day's ranking.
    admin.execute(
        "UPDATE analytics_daily_products SET views = views + 1000 WHERE (tenant_id, day, product_id)"
        " = (SELECT tenant_id, day, product_id FROM analytics_daily_products WHERE tenant_id = %s"
        " ORDER BY day, views, product_id LIMIT 1)",
        (t,),
    )
    # An event nobody sent, on a day the shop has events.
    stray = admin.execute(
        "INSERT INTO analytics_events (tenant_id, id, event_type, user_key, created_at)"
        " SELECT tenant_id, gen_random_uuid(), 'search', 'cart:stray', created_at"
        " FROM analytics_events WHERE tenant_id = %s LIMIT 1 RETURNING id",
        (t,),
    ).fetchone()
    assert stray is not None
    drift = await verify(relay, tenants=[t])
    assert [i for _, _, i in drift.missing] == [str(lost[0])]
    assert [i for _, _, i in drift.extra] == [str(stray[0])]
    kinds = {kind for _, kind, _ in drift.different}
    assert {"product_hourly", "daily_products", "top_products_by_views"} <= kinds
