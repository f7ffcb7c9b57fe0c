"""The day's top products read N entries of an index, whatever the products seen that day
(migration 0011), for the application role under row-level security: every index condition is
a leakproof `=` on uuid or date, so the policy does not stop the index from serving it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg

from polyshop import bootstrap
from polyshop.adapters.postgres import PostgresAnalyticsStore
from polyshop.domain.analytics import AnalyticsEvent, EventType, ProductRank, rank_products

DAY = (datetime.now(UTC) - timedelta(days=1)).date()
START = datetime(DAY.year, DAY.month, DAY.day, 10, tzinfo=UTC)
# The adapter's query (adapters/postgres/_analytics.py, _TOP).
TOP = (
    "SELECT product_id, views, purchases, revenue FROM analytics_daily_products"
    " WHERE tenant_id = %s AND day = %s AND last_at > now() - %s"
    " ORDER BY {order}, product_id LIMIT %s"
)


async def test_the_application_role_reads_the_top_n_from_the_index(
    app: bootstrap.Container, admin_url: str
) -> None:
    tenant = await app.tenants.create(f"top-{uuid4().hex[:8]}", "Top")
    products = [uuid4() for _ in range(3000)]
    events = [
        AnalyticsEvent(tenant.id, uuid4(), EventType.VIEW, START + timedelta(seconds=n),
                       cart_token=f"c{n}", product_id=p)
        for n, p in enumerate(products) for _ in range(1 + n % 7)
    ] + [
        AnalyticsEvent(tenant.id, uuid4(), EventType.PURCHASE, START, cart_token="buyer",
                       product_id=p, quantity=1, amount=Decimal(n % 97))
        for n, p in enumerate(products[:500])
    ]  # fmt: skip
    await PostgresAnalyticsStore(app.relay_database).record(events)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("ANALYZE analytics_daily_products")
    plans = {}
    async with app.database.unit_of_work(tenant.id) as uow:
        for by, order in (("views", "views DESC, revenue DESC"),
                          ("revenue", "revenue DESC, views DESC")):  # fmt: skip
            cursor = await uow.connection.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + TOP.format(order=order),
                (tenant.id, DAY, timedelta(days=395), 10),
            )
            plans[by] = (await cursor.fetchone())[0][0]["Plan"]  # type: ignore[index]
    for by, plan in plans.items():
        assert plan["Node Type"] == "Limit"
        scan = plan["Plans"][0]
        while scan["Node Type"] == "Result":  # the policy's check of the tenant, once
            scan = scan["Plans"][0]
        assert scan["Node Type"] == "Index Scan", json.dumps(plan)
        assert scan["Index Name"] == f"analytics_daily_products_{by}_idx"
        assert "day" in scan["Index Cond"] and "tenant_id" in scan["Index Cond"]
        assert scan["Actual Rows"] == 10  # ten entries read for ten answers, of 3,000 products
    totals: dict[UUID, ProductRank] = {}
    for e in events:
        r = totals.get(e.product_id) or ProductRank(e.product_id, 0, 0, Decimal(0))  # type: ignore[arg-type]
        bought = e.type == EventType.PURCHASE
        totals[r.product_id] = ProductRank(r.product_id, r.views + (not bought),
                                           r.purchases + bought, r.revenue + (e.amount or 0))  # fmt: skip
    store = PostgresAnalyticsStore(app.database)
    for by in ("views", "revenue"):
        top = await store.top_products(tenant.id, DAY, by=by, limit=10)
        assert top == rank_products(totals, by, 10)
