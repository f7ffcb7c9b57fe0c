"""analytics_events keeps the indexes its reads use and no other (migration 0017): every event
inserted pays an entry in each, and the three by event type, product and user id served no
query. A user's day and an order's history, the reads that go to the events themselves, still
read their index for the application role under row-level security."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import psycopg

from polyshop import bootstrap
from polyshop.adapters.postgres import PostgresAnalyticsStore
from polyshop.domain.analytics import AnalyticsEvent, EventType

DAY = (datetime.now(UTC) - timedelta(days=1)).date()
START = datetime(DAY.year, DAY.month, DAY.day, 9, tzinfo=UTC)
# The adapter's reads (adapters/postgres/_analytics.py: user_timeline, order_history).
TIMELINE = (
    "SELECT id FROM analytics_events WHERE tenant_id = %s AND user_key = %s"
    " AND created_at >= %s AND created_at < %s AND created_at > now() - %s"
    " ORDER BY created_at, id::text"
)
HISTORY = (
    "SELECT id FROM analytics_events WHERE tenant_id = %s AND order_id = %s"
    " AND created_at > now() - %s ORDER BY created_at, id::text"
)


def index_names(plan: dict[str, Any]) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= index_names(child)
    return found


def test_only_the_indexes_the_reads_use_are_kept(admin_url: str) -> None:
    with psycopg.connect(admin_url) as admin:
        rows = admin.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'analytics_events'"
        ).fetchall()
    assert {r[0] for r in rows} == {
        "analytics_events_pkey", "analytics_events_user_key_idx", "analytics_events_order_idx",
    }  # fmt: skip


async def test_a_day_and_an_order_are_read_from_their_index(
    app: bootstrap.Container, admin_url: str
) -> None:
    tenant = await app.tenants.create(f"aei-{uuid4().hex[:8]}", "Indexes")
    orders = [uuid4() for _ in range(400)]
    events = [
        AnalyticsEvent(tenant.id, uuid4(), EventType.VIEW, START + timedelta(seconds=n),
                       cart_token=f"c{n % 500}", product_id=uuid4())
        for n in range(6000)
    ] + [
        AnalyticsEvent(tenant.id, uuid4(), EventType.ORDER_STATUS, START + timedelta(seconds=n),
                       order_id=orders[n % 400], detail="reserved")
        for n in range(2000)
    ]  # fmt: skip
    await PostgresAnalyticsStore(app.relay_database).record(events)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("ANALYZE analytics_events")
    start, end = START.replace(hour=0), START.replace(hour=0) + timedelta(days=1)
    keep = timedelta(days=395)
    async with app.database.unit_of_work(tenant.id) as uow:
        plans = {}
        for name, sql, params in (
            ("user_key", TIMELINE, (tenant.id, "cart:c7", start, end, keep)),
            ("order", HISTORY, (tenant.id, orders[3], keep)),
        ):
            cursor = await uow.connection.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            plans[name] = (await cursor.fetchone())[0][0]["Plan"]  # type: ignore[index]
    for name, plan in plans.items():
        used = index_names(plan)
        assert any(f"{name}" in index for index in used), json.dumps(plan)
    store = PostgresAnalyticsStore(app.database)
    assert len(await store.user_timeline(tenant.id, "cart:c7", DAY)) == 12
    assert len(await store.order_history(tenant.id, orders[3])) == 5
