"""The AnalyticsStore on PostgreSQL (profile `embedded`): the twin of the Cassandra tables.

Events go to the append-only, month-partitioned `analytics_events` with the event id as their
id, so a replay is skipped by ON CONFLICT; the hourly rollups (`analytics_rollups`) are updated
in the same statement from the rows really inserted, so nothing is counted twice. Retention is
read-side here (an event older than the retention is invisible; dropping old months is the
maintenance job's), matching Cassandra's TTL counted from when the event happened.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from polyshop.adapters.postgres._database import Database
from polyshop.domain.analytics import (
    EVENTS_RECORDED,
    AnalyticsEvent,
    EventType,
    Funnel,
    HourlyCount,
    ProductRank,
    day_bounds,
    rank_products,
    split_user_key,
)
from polyshop.ports import Drift

# Rows inserted now feed the rollups of the same statement: a skipped duplicate feeds nothing.
# The columns are bound as binary arrays (`%(x)b`): psycopg's text arrays quote every element
# through a regular expression, six times the client's CPU of the binary form per event.
_RECORD = """
WITH incoming AS (
    SELECT * FROM unnest(%(id)b::uuid[], %(type)b::text[], %(user_id)b::uuid[],
                         %(user_key)b::text[], %(session)b::text[], %(product)b::uuid[],
                         %(category)b::uuid[], %(order)b::uuid[], %(quantity)b::int[],
                         %(amount)b::numeric[], %(query)b::text[], %(detail)b::text[],
                         %(at)b::timestamptz[])
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
), hourly AS (
    INSERT INTO analytics_rollups AS r (tenant_id, subject_kind, subject_id, hour, event_type,
                                        events, amount, last_at)
    SELECT %(tenant)s, kind, subject, date_trunc('hour', created_at, 'UTC'), event_type,
           count(*), coalesce(sum(amount), 0), max(created_at)
      FROM subjects GROUP BY kind, subject, date_trunc('hour', created_at, 'UTC'), event_type
     -- Rows locked in one order by every writer: two batches of the same day never deadlock.
     ORDER BY kind, subject, 4, event_type
    ON CONFLICT (tenant_id, subject_kind, subject_id, hour, event_type) DO UPDATE
       SET events = r.events + excluded.events, amount = r.amount + excluded.amount,
           last_at = greatest(r.last_at, excluded.last_at)
)
INSERT INTO analytics_daily_products AS d (tenant_id, day, product_id, views, purchases, revenue,
                                           last_at)
SELECT %(tenant)s, (created_at AT TIME ZONE 'UTC')::date, product_id,
       count(*) FILTER (WHERE event_type = 'view'),
       count(*) FILTER (WHERE event_type = 'purchase'),
       coalesce(sum(amount) FILTER (WHERE event_type = 'purchase'), 0), max(created_at)
  FROM inserted
 WHERE product_id IS NOT NULL AND event_type IN ('view', 'purchase')
 GROUP BY 2, 3 ORDER BY 2, 3
ON CONFLICT (tenant_id, day, product_id) DO UPDATE
   SET views = d.views + excluded.views, purchases = d.purchases + excluded.purchases,
       revenue = d.revenue + excluded.revenue, last_at = greatest(d.last_at, excluded.last_at)
"""

# The day's top products: the first `limit` entries of an index in the asked order (migration
# 0011), however many products the day saw.
_TOP = {
    by: "SELECT product_id, views, purchases, revenue FROM analytics_daily_products"
    " WHERE tenant_id = %s AND day = %s AND last_at > now() - %s"
    f" ORDER BY {order}, product_id LIMIT %s"
    for by, order in (("views", "views DESC, revenue DESC"),
                      ("revenue", "revenue DESC, views DESC"))
}  # fmt: skip

# The bulk path of a rebuild: a large chunk of events in one set-based statement that does not
# touch the rollups; `summarise` recomputes them at the end from the shop's events. (COPY would
# need a staging table: PostgreSQL refuses COPY into a table under row-level security, and the
# relay's role may not create temporary tables.)
_LOAD = """
INSERT INTO analytics_events (tenant_id, id, event_type, user_id, user_key, session_id,
                              product_id, category_id, order_id, quantity, amount, properties,
                              created_at)
SELECT %(tenant)s, id, event_type, user_id, user_key, session_id, product_id, category_id,
       order_id, quantity, amount,
       jsonb_strip_nulls(jsonb_build_object('query', query, 'detail', detail)), created_at
  FROM unnest(%(id)b::uuid[], %(type)b::text[], %(user_id)b::uuid[], %(user_key)b::text[],
              %(session)b::text[], %(product)b::uuid[], %(category)b::uuid[],
              %(order)b::uuid[], %(quantity)b::int[], %(amount)b::numeric[], %(query)b::text[],
              %(detail)b::text[], %(at)b::timestamptz[])
       AS t(id, event_type, user_id, user_key, session_id, product_id, category_id, order_id,
            quantity, amount, query, detail, created_at)
 -- In the primary key's order: each index page is visited once for its run of keys.
 ORDER BY created_at, id
ON CONFLICT DO NOTHING
"""
# The storefront batches of a range of outbox rows, unpacked by the server: the same events as
# domain.analytics.storefront_event and the same columns as `_columns` (the bulk rebuild test
# compares this path with the projector's, row for row).
_LOAD_RECORDED = """
WITH incoming AS (
    SELECT e.*
      FROM outbox o,
           jsonb_to_recordset(o.payload -> 'events') AS e(
               event_id uuid, type text, occurred_at timestamptz, customer_id uuid,
               cart_token text, session_id text, product_id uuid, category_id uuid, query text,
               quantity int)
     WHERE o.tenant_id = %(tenant)s AND o.id > %(after)s AND o.id <= %(last)s
       AND o.event_type = %(recorded)s
), inserted AS (
    INSERT INTO analytics_events (tenant_id, id, event_type, user_id, user_key, session_id,
                                  product_id, category_id, quantity, properties, created_at)
    SELECT %(tenant)s, event_id, type, customer_id,
           CASE WHEN customer_id IS NOT NULL THEN 'customer:' || customer_id::text
                WHEN cart_token <> '' THEN 'cart:' || cart_token END,
           session_id, product_id, category_id, quantity,
           jsonb_strip_nulls(jsonb_build_object('query', query)), occurred_at
      FROM incoming
     WHERE occurred_at > now() - %(retention)s
     ORDER BY occurred_at, event_id
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM incoming
"""
# One writer of a shop's rollups at a time against a recompute: `record` holds this lock shared,
# `summarise` exclusively (so an event recorded by a live relay during a rebuild is counted
# once: either in the recompute or by its own statement after it).
_LOCK_CLASS = 0x0A11
_SUMMARISE = (
    "DELETE FROM analytics_rollups WHERE tenant_id = %(tenant)s",
    "DELETE FROM analytics_daily_products WHERE tenant_id = %(tenant)s",
    """
INSERT INTO analytics_rollups (tenant_id, subject_kind, subject_id, hour, event_type, events,
                               amount, last_at)
SELECT %(tenant)s, kind, subject, date_trunc('hour', created_at, 'UTC'), event_type, count(*),
       coalesce(sum(amount), 0), max(created_at)
  FROM (SELECT 'product' AS kind, product_id AS subject, event_type, amount, created_at
          FROM analytics_events WHERE tenant_id = %(tenant)s AND product_id IS NOT NULL
        UNION ALL
        SELECT 'category', category_id, event_type, amount, created_at
          FROM analytics_events
         WHERE tenant_id = %(tenant)s AND category_id IS NOT NULL
           AND event_type IN ('view', 'add_to_cart', 'purchase')) subjects
 GROUP BY kind, subject, date_trunc('hour', created_at, 'UTC'), event_type
""",
    """
INSERT INTO analytics_daily_products (tenant_id, day, product_id, views, purchases, revenue,
                                      last_at)
SELECT %(tenant)s, (created_at AT TIME ZONE 'UTC')::date, product_id,
       count(*) FILTER (WHERE event_type = 'view'),
       count(*) FILTER (WHERE event_type = 'purchase'),
       coalesce(sum(amount) FILTER (WHERE event_type = 'purchase'), 0), max(created_at)
  FROM analytics_events
 WHERE tenant_id = %(tenant)s AND product_id IS NOT NULL AND event_type IN ('view', 'purchase')
 GROUP BY 2, 3
""",
)

# Verify, one day at a time, set-based: the expected events (as `_columns`) against the stored
# events of the day, field by field, and the rollups they imply against the stored ones.
_EXPECTED = """
expected AS (
    SELECT i AS id, t AS event_type, u AS user_id, k AS user_key, s AS session_id,
           p AS product_id, c AS category_id, o AS order_id, q AS quantity, a AS amount,
           y AS query, d AS detail, at AS created_at
      FROM jsonb_to_recordset(%(expected)s::jsonb) AS r(
               i uuid, t text, u uuid, k text, s text, p uuid, c uuid, o uuid, q int,
               a numeric, y text, d text, at timestamptz)
)"""
_COMPARE = f"""
WITH {_EXPECTED}, stored_events AS (
    SELECT id, event_type, user_key, session_id, product_id, category_id, order_id, quantity,
           amount, properties ->> 'query' AS query, properties ->> 'detail' AS detail, created_at
      FROM analytics_events
     WHERE tenant_id = %(tenant)s AND created_at >= %(start)s AND created_at < %(end)s
       AND created_at > now() - %(retention)s
), subjects AS (
    SELECT 'product' AS kind, product_id AS subject, event_type, amount, created_at
      FROM expected WHERE product_id IS NOT NULL
    UNION ALL
    SELECT 'category', category_id, event_type, amount, created_at
      FROM expected
     WHERE category_id IS NOT NULL AND event_type IN ('view', 'add_to_cart', 'purchase')
), wanted AS (
    SELECT kind, subject, date_trunc('hour', created_at, 'UTC') AS hour, event_type,
           count(*) AS events, coalesce(sum(amount), 0) AS amount
      FROM subjects GROUP BY 1, 2, 3, 4
), stored AS (
    SELECT subject_kind AS kind, subject_id AS subject, hour, event_type, events, amount
      FROM analytics_rollups
     WHERE tenant_id = %(tenant)s AND hour >= %(start)s AND hour < %(end)s
       AND last_at > now() - %(retention)s
), wanted_days AS (
    SELECT product_id, count(*) FILTER (WHERE event_type = 'view') AS views,
           count(*) FILTER (WHERE event_type = 'purchase') AS purchases,
           coalesce(sum(amount) FILTER (WHERE event_type = 'purchase'), 0) AS revenue
      FROM expected
     WHERE product_id IS NOT NULL AND event_type IN ('view', 'purchase')
     GROUP BY 1
), stored_days AS (
    SELECT product_id, views, purchases, revenue FROM analytics_daily_products
     WHERE tenant_id = %(tenant)s AND day = %(day)s AND last_at > now() - %(retention)s
)
SELECT 'event', coalesce(e.id, s.id)::text,
       CASE WHEN e.id IS NULL THEN 'extra' WHEN s.id IS NULL THEN 'missing' ELSE 'different' END
  FROM expected e FULL JOIN stored_events s ON s.id = e.id AND s.created_at = e.created_at
 WHERE e.id IS NULL OR s.id IS NULL
    OR (e.event_type, e.user_key, e.session_id, e.product_id, e.category_id, e.order_id,
        e.quantity, e.amount, e.query, e.detail)
       IS DISTINCT FROM
       (s.event_type, s.user_key, s.session_id, s.product_id, s.category_id, s.order_id,
        s.quantity, s.amount, s.query, s.detail)
UNION
SELECT DISTINCT coalesce(w.kind, s.kind) || '_hourly', coalesce(w.subject, s.subject)::text,
       'different'
  FROM wanted w FULL JOIN stored s
       ON s.kind = w.kind AND s.subject = w.subject AND s.hour = w.hour
          AND s.event_type = w.event_type
 WHERE (w.events, w.amount) IS DISTINCT FROM (s.events, s.amount)
UNION
SELECT 'daily_products', coalesce(w.product_id, s.product_id)::text, 'different'
  FROM wanted_days w FULL JOIN stored_days s ON s.product_id = w.product_id
 WHERE (w.views, w.purchases, w.revenue) IS DISTINCT FROM (s.views, s.purchases, s.revenue)
 ORDER BY 1, 2
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

    def stale(self) -> bool:
        return False  # `record` updates the rollups in the same statement as the events

    async def flush(self) -> None:
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
                await uow.connection.execute(
                    "SELECT pg_advisory_xact_lock_shared(%s::int, hashtext(%s))",
                    (_LOCK_CLASS, str(tenant_id)),
                )
                await uow.connection.execute(_RECORD, _columns(tenant_id, batch))
                await uow.commit()

    async def load(self, tenant_id: UUID, events: Sequence[AnalyticsEvent]) -> None:
        """Bulk path (rebuild): the events only, in one statement; the rollups wait for
        `summarise`."""
        oldest = datetime.now(UTC) - self.retention
        if any(e.tenant_id != tenant_id for e in events):
            raise ValueError("a bulk load is for one shop")
        kept = [e for e in events if e.occurred_at > oldest]
        if not kept:
            return
        async with self._database.unit_of_work(tenant_id) as uow:
            await uow.connection.execute(_LOAD, _columns(tenant_id, kept))
            await uow.commit()

    async def load_recorded(self, tenant_id: UUID, after: int, last: int) -> int:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(_LOAD_RECORDED, {
                "tenant": tenant_id, "after": after, "last": last,
                "recorded": EVENTS_RECORDED, "retention": self.retention,
            })  # fmt: skip
            row = await cursor.fetchone()
            await uow.commit()
        return int(row[0]) if row else 0

    async def compare_day(
        self, tenant_id: UUID, day: date, expected: Sequence[dict[str, Any]]
    ) -> Drift:
        """Every event the store holds for the shop's day against the expected ones (missing,
        extra, or stored differently: `different` by event id), and every rollup row of the
        day against what those events imply (`different` by product or category)."""
        start, end = day_bounds(day)
        params = {
            "tenant": tenant_id, "start": start, "end": end, "day": day,
            "retention": self.retention,
            "expected": json.dumps(list(expected), separators=(",", ":")),
        }  # fmt: skip
        drift = Drift(checked=len(expected))
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(_COMPARE, params)
            for kind, key, how in await cursor.fetchall():
                if kind != "event":
                    drift.different.append((tenant_id, kind, f"{key}:{day}"))
                elif how == "different":
                    drift.different.append((tenant_id, "event", key))
                else:
                    getattr(drift, how).append((tenant_id, f"day:{day}", key))
        return drift

    async def summarise(self, tenant_id: UUID) -> None:
        """Recompute the shop's rollups from its events, set-based (the end of a bulk load)."""
        async with self._database.unit_of_work(tenant_id) as uow:
            await uow.connection.execute(
                "SELECT pg_advisory_xact_lock(%s::int, hashtext(%s))", (_LOCK_CLASS, str(tenant_id))
            )
            for statement in _SUMMARISE:
                await uow.connection.execute(statement, {"tenant": tenant_id})
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
        if by not in _TOP:
            raise ValueError(f"top products by views or revenue, not {by!r}")
        rows = await self._rows(tenant_id, _TOP[by], (tenant_id, day, self.retention, limit))
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
