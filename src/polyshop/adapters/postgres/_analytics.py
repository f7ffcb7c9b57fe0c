"""The AnalyticsStore on PostgreSQL (profile `embedded`): the twin of the Cassandra tables.

Events go to the append-only, month-partitioned `analytics_events` with the event id as their
id, so a replay is skipped by ON CONFLICT; the hourly rollups (`analytics_rollups`) are updated
in the same statement from the rows really inserted, so nothing is counted twice. Retention is
read-side here (an event older than the retention is invisible; dropping old months is the
maintenance job's), matching Cassandra's TTL counted from when the event happened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from polyshop.adapters.postgres._database import Database
from polyshop.domain.analytics import (
    AnalyticsEvent,
    EventType,
    Funnel,
    HourlyCount,
    ProductRank,
    day_bounds,
    rank_products,
    split_user_key,
)

# Rows inserted now feed the rollups of the same statement: a skipped duplicate feeds nothing.
_RECORD = """
WITH incoming AS (
    SELECT * FROM unnest(%(id)s::uuid[], %(type)s::text[], %(user_id)s::uuid[],
                         %(user_key)s::text[], %(session)s::text[], %(product)s::uuid[],
                         %(category)s::uuid[], %(order)s::uuid[], %(quantity)s::int[],
                         %(amount)s::numeric[], %(query)s::text[], %(detail)s::text[],
                         %(at)s::timestamptz[])
        AS t(id, event_type, user_id, user_key, session_id, product_id, category_id, order_id,
             quantity, amount, query, detail, created_at)
), inserted AS (
    INSERT INTO analytics_events (tenant_id, id, event_type, user_id, user_key, session_id,
                                  product_id, category_id, order_id, quantity, amount,
                                  properties, created_at)
    SELECT %(tenant)s, id, event_type, user_id, user_key, session_id, product_id, category_id,
           order_id, quantity, amount,
           jsonb_strip_nulls(jsonb_build_object('query', query, 'detail', detail)), created_at
      FROM incoming
    ON CONFLICT DO NOTHING
    RETURNING event_type, product_id, category_id, amount, created_at
), subjects AS (
    SELECT 'product' AS kind, product_id AS subject, event_type, amount, created_at
      FROM inserted WHERE product_id IS NOT NULL
    UNION ALL
    SELECT 'category', category_id, event_type, amount, created_at
      FROM inserted
     WHERE category_id IS NOT NULL AND event_type IN ('view', 'add_to_cart', 'purchase')
)
INSERT INTO analytics_rollups AS r (tenant_id, subject_kind, subject_id, hour, event_type,
                                    events, amount, last_at)
SELECT %(tenant)s, kind, subject, date_trunc('hour', created_at, 'UTC'), event_type, count(*),
       coalesce(sum(amount), 0), max(created_at)
  FROM subjects GROUP BY kind, subject, date_trunc('hour', created_at, 'UTC'), event_type
ON CONFLICT (tenant_id, subject_kind, subject_id, hour, event_type) DO UPDATE
   SET events = r.events + excluded.events, amount = r.amount + excluded.amount,
       last_at = greatest(r.last_at, excluded.last_at)
"""

_EVENT_COLUMNS = (
    "id, event_type, user_key, session_id, product_id, category_id, order_id, quantity, amount,"
    " properties ->> 'query', properties ->> 'detail', created_at"
)


class PostgresAnalyticsStore:
    name = "postgres"

    def __init__(self, database: Database, *, retention: timedelta = timedelta(days=395)) -> None:
        self._database = database
        self.retention = retention

    async def close(self) -> None:
        return None

    async def record(self, events: Sequence[AnalyticsEvent]) -> None:
        by_tenant: dict[UUID, list[AnalyticsEvent]] = defaultdict(list)
        oldest = datetime.now(UTC) - self.retention
        for event in events:
            if event.occurred_at <= oldest:
                continue  # already past retention, as Cassandra's TTL would have it
            by_tenant[event.tenant_id].append(event)
        for tenant_id, batch in by_tenant.items():
            async with self._database.unit_of_work(tenant_id) as uow:
                await uow.connection.execute(_RECORD, _columns(tenant_id, batch))
                await uow.commit()

    async def _rows(self, tenant_id: UUID, sql: str, params: tuple[Any, ...]) -> list[Any]:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(sql, params)
            return await cursor.fetchall()

    async def user_timeline(
        self, tenant_id: UUID, user_key: str, day: date
    ) -> list[AnalyticsEvent]:
        start, end = day_bounds(day)
        rows = await self._rows(
            tenant_id,
            f"SELECT {_EVENT_COLUMNS} FROM analytics_events WHERE tenant_id = %s"
            " AND user_key = %s AND created_at >= %s AND created_at < %s"
            " AND created_at > now() - %s ORDER BY created_at, id::text",
            (tenant_id, user_key, start, end, self.retention),
        )
        return [_event(tenant_id, row) for row in rows]

    async def order_history(self, tenant_id: UUID, order_id: UUID) -> list[AnalyticsEvent]:
        rows = await self._rows(
            tenant_id,
            f"SELECT {_EVENT_COLUMNS} FROM analytics_events WHERE tenant_id = %s"
            " AND order_id = %s AND created_at > now() - %s ORDER BY created_at, id::text",
            (tenant_id, order_id, self.retention),
        )
        return [_event(tenant_id, row) for row in rows]

    async def _rollups(
        self, tenant_id: UUID, kind: str, subject: UUID, day: date
    ) -> list[tuple[int, str, int, Decimal]]:
        start, end = day_bounds(day)
        rows = await self._rows(
            tenant_id,
            "SELECT extract(hour FROM hour AT TIME ZONE 'UTC')::int, event_type, events, amount"
            " FROM analytics_rollups WHERE tenant_id = %s AND subject_kind = %s"
            " AND subject_id = %s AND hour >= %s AND hour < %s AND last_at > now() - %s",
            (tenant_id, kind, subject, start, end, self.retention),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def product_hourly(
        self, tenant_id: UUID, product_id: UUID, day: date
    ) -> list[HourlyCount]:
        rows = await self._rollups(tenant_id, "product", product_id, day)
        return [HourlyCount(h, EventType(k), n) for h, k, n, _ in sorted(rows)]

    async def funnel(
        self, tenant_id: UUID, day: date, *, product_id: UUID | None = None,
        category_id: UUID | None = None,
    ) -> Funnel:  # fmt: skip
        if (product_id is None) == (category_id is None):
            raise ValueError("a funnel is for one product or one category")
        kind, subject = ("product", product_id) if product_id else ("category", category_id)
        assert subject is not None
        counts: dict[str, int] = defaultdict(int)
        revenue = Decimal(0)
        for _, event_type, events, amount in await self._rollups(tenant_id, kind, subject, day):
            counts[event_type] += events
            if event_type == EventType.PURCHASE:
                revenue += amount
        return Funnel(
            counts[EventType.VIEW], counts[EventType.ADD_TO_CART], counts[EventType.PURCHASE],
            revenue,
        )  # fmt: skip

    async def top_products(
        self, tenant_id: UUID, day: date, *, by: str = "views", limit: int = 10
    ) -> list[ProductRank]:
        start, end = day_bounds(day)
        order = "views DESC, revenue DESC" if by == "views" else "revenue DESC, views DESC"
        rows = await self._rows(
            tenant_id,
            "SELECT subject_id,"
            " coalesce(sum(events) FILTER (WHERE event_type = 'view'), 0)::bigint AS views,"
            " coalesce(sum(events) FILTER (WHERE event_type = 'purchase'), 0)::bigint,"
            " coalesce(sum(amount) FILTER (WHERE event_type = 'purchase'), 0) AS revenue"
            " FROM analytics_rollups WHERE tenant_id = %s AND subject_kind = 'product'"
            " AND hour >= %s AND hour < %s AND event_type IN ('view', 'purchase')"
            " AND last_at > now() - %s"
            f" GROUP BY subject_id ORDER BY {order}, subject_id::text LIMIT %s",
            (tenant_id, start, end, self.retention, limit),
        )
        totals = {r[0]: ProductRank(r[0], r[1], r[2], r[3]) for r in rows}
        return rank_products(totals, by, limit)


def _columns(tenant_id: UUID, events: list[AnalyticsEvent]) -> dict[str, Any]:
    return {
        "tenant": tenant_id,
        "id": [e.event_id for e in events],
        "type": [str(e.type) for e in events],
        "user_id": [e.customer_id for e in events],
        "user_key": [e.user_key for e in events],
        "session": [e.session_id for e in events],
        "product": [e.product_id for e in events],
        "category": [e.category_id for e in events],
        "order": [e.order_id for e in events],
        "quantity": [e.quantity for e in events],
        "amount": [e.amount for e in events],
        "query": [e.query for e in events],
        "detail": [e.detail for e in events],
        "at": [e.occurred_at for e in events],
    }


def _event(tenant_id: UUID, row: Any) -> AnalyticsEvent:
    customer, cart = split_user_key(row[2])
    return AnalyticsEvent(
        tenant_id=tenant_id, event_id=row[0], type=EventType(row[1]), occurred_at=row[11],
        customer_id=customer, cart_token=cart, session_id=row[3], product_id=row[4],
        category_id=row[5], order_id=row[6], quantity=row[7], amount=row[8], query=row[9],
        detail=row[10],
    )  # fmt: skip
