"""The AnalyticsStore on Apache Cassandra (cassandra-driver).

Writes: every statement is prepared; rows are grouped by partition and sent as UNLOGGED batches
of one partition each (one coordinator hop to the replicas that own it, thanks to token-aware
routing), with a bounded number in flight. Single-row inserts from Python are limited by the
client's CPU (the driver spends most of its time per statement); per-partition batches are how
the ingest path reaches the raw driver's speed (bench.analytics measures both).

Rollups (product hours, the day's top products) are not written by `record`: it only notes
which (shop, product, day, hour) its events touched, and `flush` recounts each noted key once,
however many batches touched it (the analytics projector flushes every couple of seconds and
whenever the relay is idle). Event ingest so costs what the event rows cost.

Reads: each query names its partitions (every bucket of a product's, category's or shop's day)
and lets Cassandra aggregate inside each with GROUP BY on clustering columns.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from cassandra import ConsistencyLevel, DriverException, OperationTimedOut
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, PreparedStatement

from polyshop.adapters.cassandra._timeuuid import event_time, time_of
from polyshop.domain.analytics import (
    BUCKETS,
    TOP_BY,
    TOP_MAX,
    AnalyticsEvent,
    EventType,
    Funnel,
    HourlyCount,
    ProductRank,
    rank_products,
    split_user_key,
)
from polyshop.domain.errors import StoreUnavailableError

T = TypeVar("T")

# Rows per batch: about 5 KiB (batch_size_warn_threshold), far under the 50 KiB failure limit.
BATCH_ROWS = 30
_CATEGORY_TYPES = {EventType.VIEW, EventType.ADD_TO_CART, EventType.PURCHASE}
_CAUGHT = (DriverException, NoHostAvailable, OperationTimedOut, OSError)

_INSERTS = {
    "user": "INSERT INTO user_analytics (tenant_id, user_key, event_date, event_time, event_id,"
    " event_type, session_id, product_id, category_id, order_id, query, quantity, amount, detail)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?",
    "product": "INSERT INTO product_analytics (tenant_id, product_id, event_date, bucket,"
    " event_hour, event_type, event_time, user_key, quantity, amount)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?",
    "category": "INSERT INTO category_analytics (tenant_id, category_id, event_date, bucket,"
    " event_type, event_time, product_id, amount) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?",
    "order": "INSERT INTO order_analytics (tenant_id, order_id, event_time, event_id, event_type,"
    " user_key, product_id, category_id, quantity, amount, detail)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?",
    # Rollups (migration 0002): absolute values, the count as the write's timestamp.
    "hour": "INSERT INTO product_hourly_rollup (tenant_id, product_id, event_date, event_hour,"
    " event_type, events, amount) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?",
    "version": "UPDATE top_products_daily USING TTL ? SET version = ?"
    " WHERE tenant_id = ? AND event_date = ? IF version = ?",
    "candidate": "UPDATE top_products_daily USING TTL ? SET views = ?, purchases = ?, revenue = ?"
    " WHERE tenant_id = ? AND event_date = ? AND product_id = ?",
    "drop": "DELETE FROM top_products_daily WHERE tenant_id = ? AND event_date = ?"
    " AND product_id = ?",
}
_SELECTS = {
    "timeline": "SELECT event_time, event_id, event_type, session_id, product_id, category_id,"
    " order_id, query, quantity, amount, detail FROM user_analytics"
    " WHERE tenant_id = ? AND user_key = ? AND event_date = ?",
    "category": "SELECT event_type, count(*), sum(amount) FROM category_analytics"
    " WHERE tenant_id = ? AND category_id = ? AND event_date = ? AND bucket = ?"
    " GROUP BY event_type",
    "order": "SELECT event_time, event_id, event_type, user_key, product_id, category_id,"
    " quantity, amount, detail FROM order_analytics WHERE tenant_id = ? AND order_id = ?",
    # One hour of several products' day, from all their buckets (the recount behind the
    # rollup): every (product, bucket) partition named, Cassandra counts inside each.
    "recount": "SELECT product_id, event_type, count(*), sum(amount) FROM product_analytics"
    " WHERE tenant_id = ? AND product_id IN ? AND event_date = ? AND bucket IN ?"
    " AND event_hour = ? GROUP BY tenant_id, product_id, event_date, bucket, event_hour,"
    " event_type",
    "rollup": "SELECT event_hour, event_type, events, amount FROM product_hourly_rollup"
    " WHERE tenant_id = ? AND product_id = ? AND event_date = ?",
    # Several products' days at once (the flush's fold into the top products).
    "rollups": "SELECT product_id, event_type, events, amount FROM product_hourly_rollup"
    " WHERE tenant_id = ? AND product_id IN ? AND event_date = ?",
    "candidates": "SELECT product_id, views, purchases, revenue, version FROM top_products_daily"
    " WHERE tenant_id = ? AND event_date = ?",
}
# Compare-and-set rounds of one shop-day's candidates before giving up (the relay retries).
_CAS_ROUNDS = 50
# Products named by one recount or rollup read of a flush (`product_id IN ?`): a recount
# reads 8 bucket partitions of each, so 32 products are 256 single-partition reads done by
# the coordinator for the price of one request from this client, whose per-request CPU is
# what limits a flush (far under Cassandra 5's partition-keys-in-select guardrail when one
# is set; it is off by default).
_PRODUCTS_PER_READ = 32


def parse_hosts(hosts: str) -> tuple[list[str], int]:
    """`a,b,c` or `a:9042,b:9042`: the driver takes one port for every contact point."""
    names, ports = [], set()
    for entry in (part.strip() for part in hosts.split(",")):
        if not entry:
            continue
        name, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "9042")
        names.append(name)
        ports.add(int(port))
    if not names or len(ports) != 1:
        raise ValueError("cassandra hosts: give host[:port] entries that share one port")
    return names, ports.pop()


def connect(
    hosts: str, *, local_dc: str, consistency: str, request_timeout: float = 10.0,
    schema_wait: float = 10.0,
) -> Cluster:  # fmt: skip
    names, port = parse_hosts(hosts)
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)),
        consistency_level=ConsistencyLevel.name_to_value[consistency],
        request_timeout=request_timeout,
    )
    return Cluster(
        names, port=port, protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        # A node that comes back is found within seconds, not the default's ten minutes.
        reconnection_policy=ExponentialReconnectionPolicy(base_delay=0.5, max_delay=10.0),
        max_schema_agreement_wait=schema_wait,
    )  # fmt: skip


def _day_totals(product_id: UUID, rows: list[Any]) -> ProductRank:
    """A product's day from its hourly rollup rows."""
    views = purchases = 0
    revenue = Decimal(0)
    for r in rows:
        if r.event_type == EventType.VIEW:
            views += r.events
        elif r.event_type == EventType.PURCHASE:
            purchases += r.events
            revenue += r.amount or Decimal(0)
    return ProductRank(product_id, views, purchases, revenue)


def _chunks(items: list[UUID], size: int) -> list[list[UUID]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _unset(*values: Any) -> tuple[Any, ...]:
    """A None bound in an INSERT writes a tombstone (a deletion marker every later read of the
    partition has to skip); an unset value writes nothing."""
    return tuple(UNSET_VALUE if v is None else v for v in values)


class CassandraAnalyticsStore:
    name = "cassandra"

    def __init__(
        self, hosts: str, keyspace: str, *, local_dc: str = "datacenter1",
        consistency: str = "LOCAL_QUORUM", retention: timedelta = timedelta(days=395),
        concurrency: int = 32, request_timeout: float = 10.0,
    ) -> None:  # fmt: skip
        self._hosts = hosts
        self._keyspace = keyspace
        self._local_dc = local_dc
        self._consistency = consistency
        self._request_timeout = request_timeout
        self.retention = retention
        self._concurrency = concurrency
        self._cluster: Cluster | None = None
        self._session: Any = None
        self._inserts: dict[str, PreparedStatement] = {}
        self._selects: dict[str, PreparedStatement] = {}
        self._lock = asyncio.Lock()
        # Rollup keys recorded but not yet refreshed: (tenant, product, day) -> {hour: ttl}.
        self._dirty: dict[tuple[UUID, UUID, date], dict[int, int]] = {}

    async def _open(self) -> Any:
        """Connect on first use (and again after a failed attempt), so an application starts
        while Cassandra is down and the projector simply waits for it."""
        if self._session is not None:
            return self._session
        async with self._lock:
            if self._session is None:
                try:
                    await asyncio.to_thread(self._connect)
                except _CAUGHT as exc:
                    raise StoreUnavailableError("cassandra", str(exc)[:300]) from None
        return self._session

    def _connect(self) -> None:
        cluster = connect(
            self._hosts, local_dc=self._local_dc, consistency=self._consistency,
            request_timeout=self._request_timeout,
        )  # fmt: skip
        try:
            session = cluster.connect(self._keyspace)
            inserts = {k: session.prepare(q) for k, q in _INSERTS.items()}
            selects = {k: session.prepare(q) for k, q in _SELECTS.items()}
            # Every write is keyed by its event, so the driver may retry it on another node.
            for statement in (*inserts.values(), *selects.values()):
                statement.is_idempotent = True
        except BaseException:
            cluster.shutdown()
            raise
        self._cluster, self._inserts, self._selects = cluster, inserts, selects
        self._session = session

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    # ---- driver futures as awaitables ----------------------------------------------------

    async def _run(self, statement: Any, params: Any = None) -> list[Any]:
        """Execute and collect every page; errors become StoreUnavailableError."""
        session = await self._open()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()
        rows: list[Any] = []
        future = session.execute_async(statement, params)

        def settle(result: list[Any] | None, error: BaseException | None) -> None:
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(result or [])

        def on_page(page: list[Any]) -> None:
            rows.extend(page or ())
            if future.has_more_pages:
                future.start_fetching_next_page()
            else:
                loop.call_soon_threadsafe(settle, rows, None)

        def on_error(error: BaseException) -> None:
            loop.call_soon_threadsafe(settle, None, error)

        future.add_callbacks(on_page, on_error)
        try:
            return await done
        except _CAUGHT as exc:
            raise StoreUnavailableError("cassandra", f"{type(exc).__name__}: {exc}"[:300]) from None

    # ---- writes ----------------------------------------------------------------------------

    def _ttl(self, event: AnalyticsEvent, now: datetime) -> int:
        """Seconds left of the event's retention, counted from when it happened."""
        left = self.retention - (now - event.occurred_at)
        return int(left.total_seconds())

    def rows(
        self, events: Sequence[AnalyticsEvent], now: datetime | None = None
    ) -> dict[tuple[Any, ...], list[tuple[str, tuple[Any, ...]]]]:
        """The rows these events become, grouped by (table, partition key)."""
        now = now or datetime.now(UTC)
        partitions: dict[tuple[Any, ...], list[tuple[str, tuple[Any, ...]]]] = defaultdict(list)
        for e in events:
            ttl = self._ttl(e, now)
            if ttl < 1:
                continue  # already past retention: nothing to keep
            t, day, bucket, when = e.tenant_id, e.day, e.bucket, event_time(e)
            kind = str(e.type)
            user = e.user_key
            if user is not None:
                partitions[("user", t, user, day)].append(("user", _unset(
                    t, user, day, when, e.event_id, kind, e.session_id, e.product_id,
                    e.category_id, e.order_id, e.query, e.quantity, e.amount, e.detail, ttl)))  # fmt: skip
            if e.product_id is not None:
                partitions[("product", t, e.product_id, day, bucket)].append(("product", _unset(
                    t, e.product_id, day, bucket, e.hour, kind, when, user, e.quantity,
                    e.amount, ttl)))  # fmt: skip
            if e.category_id is not None and e.type in _CATEGORY_TYPES:
                partitions[("category", t, e.category_id, day, bucket)].append(("category", _unset(
                    t, e.category_id, day, bucket, kind, when, e.product_id, e.amount, ttl)))  # fmt: skip
            if e.order_id is not None:
                partitions[("order", t, e.order_id)].append(("order", _unset(
                    t, e.order_id, when, e.event_id, kind, user, e.product_id, e.category_id,
                    e.quantity, e.amount, e.detail, ttl)))  # fmt: skip
        return partitions

    async def record(self, events: Sequence[AnalyticsEvent]) -> None:
        """The events' rows only; their rollup keys are noted for the next `flush` (before the
        writes, so that a batch that fails half-way still has its written part recounted)."""
        if not events:
            return
        await self._open()
        now = datetime.now(UTC)
        hours: dict[tuple[UUID, UUID, date], dict[int, int]] = defaultdict(dict)
        for e in events:
            ttl = self._ttl(e, now)
            if e.product_id is None or ttl < 1:
                continue
            touched = hours[(e.tenant_id, e.product_id, e.day)]
            touched[e.hour] = max(ttl, touched.get(e.hour, 0))
        self._note(hours)
        await self._run_all(self._statements(events))

    def _note(self, hours: dict[tuple[UUID, UUID, date], dict[int, int]]) -> None:
        for key, touched in hours.items():
            noted = self._dirty.setdefault(key, {})
            for hour, ttl in touched.items():
                noted[hour] = max(ttl, noted.get(hour, 0))

    def stale(self) -> bool:
        return bool(self._dirty)

    async def flush(self) -> None:
        """Recount every noted key once. The keys are taken first (batches recorded meanwhile
        note theirs for the next flush); if the refresh fails they are noted again."""
        hours, self._dirty = self._dirty, {}
        if not hours:
            return
        try:
            await self._roll_up(hours)
        except BaseException:
            self._note(hours)
            raise

    # ---- rollups (migration 0002): recounted from the stored events ----------------------

    async def _roll_up(self, hours: dict[tuple[UUID, UUID, date], dict[int, int]]) -> None:
        """Recount every noted (product, day, hour) from the event table and write it as
        absolute values; then fold those products' day totals into their day's top-products
        candidates. Idempotent (a replayed batch recounts the same events) and safe with
        concurrent writers (the larger count wins; candidates are CAS-updated).

        Set-based, in four steps with at most `concurrency` requests in flight each: the
        recounts, one read per shop-day-hour and up to 32 products; the rollup writes, packed
        into unlogged batches like the events; the touched products' days, one read per
        shop-day and up to 32 products (after the writes, so a concurrent writer's recount is
        seen by at least one of the two folds); one compare-and-set per shop-day. The flush used
        to send three requests per noted product-hour, one at a time per product."""
        hourly: dict[tuple[UUID, date, int], list[UUID]] = defaultdict(list)
        daily: dict[tuple[UUID, date], list[UUID]] = defaultdict(list)
        ttls: dict[tuple[UUID, date], int] = defaultdict(int)
        for (tenant_id, product_id, day), touched in hours.items():
            daily[(tenant_id, day)].append(product_id)
            ttls[(tenant_id, day)] = max(ttls[(tenant_id, day)], *touched.values())
            for hour in touched:
                hourly[(tenant_id, day, hour)].append(product_id)

        recounts = await self._gather(
            self._recount(tenant_id, day, hour, chunk)
            for (tenant_id, day, hour), products in hourly.items()
            for chunk in _chunks(products, _PRODUCTS_PER_READ)
        )
        writes: dict[tuple[UUID, UUID, date], list[Any]] = defaultdict(list)
        for (tenant_id, day, hour), counted in recounts:
            for (product_id, kind), (count, total) in counted.items():
                ttl = hours[(tenant_id, product_id, day)][hour]
                writes[(tenant_id, product_id, day)].append(self._inserts["hour"].bind(
                    (tenant_id, product_id, day, hour, kind, count, total, ttl, count)))  # fmt: skip
        await self._run_all(self._pack(writes.values()))

        wanted = [
            (tenant_id, day, chunk)
            for (tenant_id, day), products in daily.items()
            for chunk in _chunks(products, _PRODUCTS_PER_READ)
        ]
        reads = await self._gather(
            self._run(self._selects["rollups"], (tenant_id, chunk, day))
            for tenant_id, day, chunk in wanted
        )
        # By shop and day too: two shops may share product ids.
        rollups: dict[tuple[UUID, date, UUID], list[Any]] = defaultdict(list)
        for (tenant_id, day, _), rows in zip(wanted, reads, strict=True):
            for r in rows:
                rollups[(tenant_id, day, r.product_id)].append(r)
        await self._gather(
            self._fold_candidates(
                tenant_id, day,
                {p: _day_totals(p, rollups[(tenant_id, day, p)]) for p in products},
                ttls[(tenant_id, day)],
            )
            for (tenant_id, day), products in daily.items()
        )  # fmt: skip

    async def _recount(
        self, tenant_id: UUID, day: date, hour: int, products: list[UUID]
    ) -> tuple[tuple[UUID, date, int], dict[tuple[UUID, str], list[Any]]]:
        """One hour of these products' day, summed over their buckets: (product, type) ->
        [events, amount]."""
        rows = await self._run(
            self._selects["recount"], (tenant_id, products, day, list(range(BUCKETS)), hour)
        )
        counts: dict[tuple[UUID, str], list[Any]] = {}
        for product_id, kind, count, total in rows:  # one row per product, bucket and type
            entry = counts.setdefault((product_id, kind), [0, Decimal(0)])
            entry[0] += count
            entry[1] += total or Decimal(0)
        return (tenant_id, day, hour), counts

    async def _fold_candidates(
        self, tenant_id: UUID, day: date, totals: dict[UUID, ProductRank], ttl: int
    ) -> None:
        """Merge the touched products' totals into the day's candidates (each value only
        grows, so the larger of stored and new is the newer), keep the best TOP_MAX by views
        and by revenue, and write the difference if nobody changed the set meanwhile."""
        for _ in range(_CAS_ROUNDS):
            rows = await self._run(self._selects["candidates"], (tenant_id, day))
            version = rows[0].version if rows else None
            stored = {
                r.product_id: ProductRank(r.product_id, r.views or 0, r.purchases or 0,
                                          r.revenue or Decimal(0))
                for r in rows if r.product_id is not None
            }  # fmt: skip
            merged = dict(stored)
            for product_id, new in totals.items():
                old = stored.get(product_id)
                merged[product_id] = new if old is None else ProductRank(
                    product_id, max(old.views, new.views), max(old.purchases, new.purchases),
                    max(old.revenue, new.revenue))  # fmt: skip
            keep = {r.product_id for by in TOP_BY for r in rank_products(merged, by, TOP_MAX)}
            changes = [
                self._inserts["candidate"].bind(
                    (ttl, r.views, r.purchases, r.revenue, tenant_id, day, r.product_id))
                for p, r in merged.items() if p in keep and stored.get(p) != r
            ] + [
                self._inserts["drop"].bind((tenant_id, day, p)) for p in stored if p not in keep
            ]  # fmt: skip
            if not changes:
                return
            batch = BatchStatement(batch_type=BatchType.LOGGED)  # one partition, conditional
            batch.add(self._inserts["version"], (ttl, (version or 0) + 1, tenant_id, day, version))
            for statement in changes:
                batch.add(statement)
            (outcome, *_) = await self._run(batch)
            if outcome[0]:  # [applied]
                return
        raise StoreUnavailableError("cassandra", f"top products of {day}: too much contention")

    async def _gather(self, work: Iterable[Awaitable[T]]) -> list[T]:
        """Every step's result, at most `concurrency` at a time (the first failure fails the
        call; every step is idempotent, and the flush notes its keys again)."""
        limit = asyncio.Semaphore(self._concurrency)

        async def one(step: Awaitable[T]) -> T:
            async with limit:
                return await step

        return await asyncio.gather(*(one(step) for step in work))

    def _statements(self, events: Sequence[AnalyticsEvent]) -> list[Any]:
        """The events' rows as unlogged batches (`_pack`), one partition's rows together."""
        return self._pack(
            [self._inserts[table].bind(values) for table, values in rows]
            for rows in self.rows(events).values()
        )

    def _pack(self, partitions: Iterable[list[Any]]) -> list[Any]:
        """Unlogged batches of rows whose partitions live on the same replicas. A batch of one
        partition alone rarely holds more than a row (events spread over thousands of product
        days), so partitions that share their replica set are packed together: the coordinator
        the driver picks (token-aware) owns every row of the batch and forwards each to the same
        other replicas, and the client pays its per-request cost once per batch instead of per
        row, which is what limits single-row inserts from Python."""
        assert self._cluster is not None
        metadata = self._cluster.metadata
        everywhere = {host.address for host in metadata.all_hosts()}
        groups: dict[tuple[str, ...], list[Any]] = defaultdict(list)
        same: list[Any] | None = None
        for bound in partitions:  # one partition's rows stay together
            if same is not None:
                same.extend(bound)
                continue
            replicas = {
                h.address for h in metadata.get_replicas(self._keyspace, bound[0].routing_key)
            }
            groups[tuple(sorted(replicas))].extend(bound)
            if replicas == everywhere:
                # Every node holds this partition, so every node holds every partition (the
                # replica count is the same for all: one node, or three with three replicas):
                # the rest need no lookup (the routing key's hash, about 80 us a partition).
                same = groups[tuple(sorted(replicas))]
        statements: list[Any] = []
        for bound in groups.values():
            for start in range(0, len(bound), BATCH_ROWS):
                chunk = bound[start : start + BATCH_ROWS]
                if len(chunk) == 1:
                    statements.append(chunk[0])
                    continue
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                batch.is_idempotent = True
                for statement in chunk:
                    batch.add(statement)
                statements.append(batch)
        return statements

    async def _run_all(self, statements: list[Any]) -> None:
        """At most `concurrency` requests in flight; the first failure fails the call (the
        caller retries the whole batch: every write is idempotent)."""
        limit = asyncio.Semaphore(self._concurrency)

        async def one(statement: Any) -> None:
            async with limit:
                await self._run(statement)

        results = await asyncio.gather(*(one(s) for s in statements), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    # ---- reads -----------------------------------------------------------------------------

    async def _buckets(self, name: str, *key: Any) -> list[Any]:
        await self._open()
        pages = await asyncio.gather(
            *(self._run(self._selects[name], (*key, b)) for b in range(BUCKETS))
        )
        return [row for page in pages for row in page]

    async def user_timeline(
        self, tenant_id: UUID, user_key: str, day: date
    ) -> list[AnalyticsEvent]:
        await self._open()
        rows = await self._run(self._selects["timeline"], (tenant_id, user_key, day))
        customer, cart = split_user_key(user_key)
        events = [
            AnalyticsEvent(
                tenant_id=tenant_id,
                event_id=r.event_id,
                type=EventType(r.event_type),
                occurred_at=time_of(r.event_time),
                customer_id=customer,
                cart_token=cart,
                session_id=r.session_id,
                product_id=r.product_id,
                category_id=r.category_id,
                order_id=r.order_id,
                query=r.query,
                quantity=r.quantity,
                amount=r.amount,
                detail=r.detail,
            )
            for r in rows
        ]
        return sorted(events, key=lambda e: (e.occurred_at, str(e.event_id)))

    async def _rollup(self, tenant_id: UUID, product_id: UUID, day: date) -> list[Any]:
        await self._open()
        return await self._run(self._selects["rollup"], (tenant_id, product_id, day))

    async def product_hourly(
        self, tenant_id: UUID, product_id: UUID, day: date
    ) -> list[HourlyCount]:
        rows = await self._rollup(tenant_id, product_id, day)
        counts = sorted((r.event_hour, r.event_type, r.events) for r in rows)
        return [HourlyCount(h, EventType(k), n) for h, k, n in counts]

    async def funnel(
        self, tenant_id: UUID, day: date, *, product_id: UUID | None = None,
        category_id: UUID | None = None,
    ) -> Funnel:  # fmt: skip
        if (product_id is None) == (category_id is None):
            raise ValueError("a funnel is for one product or one category")
        counts: dict[str, int] = defaultdict(int)
        revenue = Decimal(0)
        if product_id is not None:
            rows = [(r.event_type, r.events, r.amount)
                    for r in await self._rollup(tenant_id, product_id, day)]  # fmt: skip
        else:
            rows = await self._buckets("category", tenant_id, category_id, day)
        for kind, count, total in rows:
            counts[kind] += count
            if kind == EventType.PURCHASE and total is not None:
                revenue += total
        return Funnel(
            counts[EventType.VIEW], counts[EventType.ADD_TO_CART], counts[EventType.PURCHASE],
            revenue,
        )  # fmt: skip

    async def top_products(
        self, tenant_id: UUID, day: date, *, by: str = "views", limit: int = 10
    ) -> list[ProductRank]:
        """From the day's candidates (at most 2 x TOP_MAX rows), exact for any limit up to
        TOP_MAX."""
        if not 1 <= limit <= TOP_MAX:
            raise ValueError(f"top products: a limit from 1 to {TOP_MAX}")
        await self._open()
        rows = await self._run(self._selects["candidates"], (tenant_id, day))
        totals = {
            r.product_id: ProductRank(r.product_id, r.views or 0, r.purchases or 0,
                                      r.revenue or Decimal(0))
            for r in rows if r.product_id is not None
        }  # fmt: skip
        return rank_products(totals, by, limit)

    async def order_history(self, tenant_id: UUID, order_id: UUID) -> list[AnalyticsEvent]:
        await self._open()
        rows = await self._run(self._selects["order"], (tenant_id, order_id))
        events = []
        for r in rows:
            customer, cart = split_user_key(r.user_key)
            events.append(AnalyticsEvent(
                tenant_id=tenant_id, event_id=r.event_id, type=EventType(r.event_type),
                occurred_at=time_of(r.event_time), customer_id=customer, cart_token=cart,
                product_id=r.product_id, category_id=r.category_id, order_id=order_id,
                quantity=r.quantity, amount=r.amount, detail=r.detail,
            ))  # fmt: skip
        return sorted(events, key=lambda e: (e.occurred_at, str(e.event_id)))
