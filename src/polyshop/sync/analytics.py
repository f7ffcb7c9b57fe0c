"""The analytics projector: outbox events → AnalyticsEvents → the AnalyticsStore.

It reads storefront batches (`storefront.events_recorded`, written by POST /events) and the
committed order events (placed, status changes, refunds). Every analytics event gets an id
derived from its outbox row (storefront events keep the id the storefront gave them), and the
stores write by that id, so the relay's at-least-once delivery counts each event once. The
checkpoint is written after the store has the events: a crash in between replays the batch,
harmlessly. While the store is down the relay retries the batch and the events simply wait in
the outbox (other projectors and checkouts do not wait for it).

A store whose summaries lag its events (Cassandra: `record` writes the events, `flush` recounts
the rollups they touched) is flushed at most every `flush_seconds` while batches arrive and
whenever the relay is idle. What a crash loses is the store's in-memory list of keys to
recount, so the projector keeps one more row in `sync_checkpoints`, `<name>:rollups`: the
checkpoint before the first batch not yet flushed, or event id -1 when everything is. It is
written when the store goes from flushed to stale and when a flush completes (twice per
interval, not per batch); a projector that starts and finds it pending records the outbox
range after it again (idempotent: keyed by event), which notes those keys, and flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Collection, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from polyshop.adapters.postgres import Database, save_checkpoint
from polyshop.domain.analytics import (
    EVENTS_RECORDED,
    TOP_BY,
    AnalyticsEvent,
    EventType,
    ProductRank,
    derived_event_id,
    from_record,
    rank_products,
    storefront_event,
    to_record,
)
from polyshop.domain.events import Aggregate, Event
from polyshop.ports import (
    Advance,
    AnalyticsStore,
    BulkAnalyticsStore,
    Checkpoint,
    Drift,
    OutboxEvent,
    Reader,
    Target,
)

_PLACED = Event.ORDER_PLACED
_PARTIAL_REFUND = Event.ORDER_PARTIALLY_REFUNDED
# A refund settled after the order's own change (a cancelled order's): money back, no status.
_SETTLED_REFUND = Event.ORDER_REFUND_SETTLED
_FULL_REFUND = Event.ORDER_REFUNDED
_OUTBOX_COLUMNS = "id, aggregate_type, aggregate_id, event_type, payload, created_at"
# The rows the projector reads, in SQL (the same rule as `_wanted`).
_WANTED_SQL = (
    "(event_type = %(recorded)s OR (aggregate_type = 'order' AND event_type LIKE 'order.%%'))"
)
# Outbox rows per chunk of a rebuild or verify (a storefront row holds up to 100 events).
_CHUNK_ROWS = 2000
# Store reads in flight while verifying.
_READS_IN_FLIGHT = 16
# How many of the day's top products verify compares (by views and by revenue).
_TOP_CHECKED = 20
# Event id of the `<name>:rollups` checkpoint row when every applied batch is flushed.
_FLUSHED = -1
# Outbox rows per read when a starting projector records the unflushed range again.
_RECOVERY_ROWS = 500

log = logging.getLogger(__name__)


def _wanted(event_type: str, aggregate_type: str) -> bool:
    return event_type == EVENTS_RECORDED or (
        aggregate_type == Aggregate.ORDER and event_type.startswith("order.")
    )


class AnalyticsProjector:
    def __init__(
        self, database: Database, store: AnalyticsStore, *, name: str = "analytics",
        flush_seconds: float = 2.0,
    ) -> None:  # fmt: skip
        self.database = database
        self.store = store
        self.name = name
        # How long the store's summaries may lag the events while batches keep arriving.
        self.flush_seconds = flush_seconds
        self._flushed_at = time.monotonic()
        self._marked = False  # the rollups row says "not flushed since ..."
        self._recovered = False

    async def targets(
        self, reader: Reader, events: Sequence[OutboxEvent]
    ) -> Mapping[int, Collection[Target]]:
        # The outbox row itself is the target: an analytics event is a fact about that row,
        # not a state to rebuild, so nothing coalesces.
        return {
            e.id: {("outbox", str(e.id))} for e in events if _wanted(e.event_type, e.aggregate_type)
        }

    async def build(
        self, reader: Reader, targets: Collection[Target], version: int
    ) -> list[AnalyticsEvent]:
        ids = sorted(int(key) for kind, key in targets if kind == "outbox")
        cursor = await reader.connection.execute(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ANY(%s) ORDER BY id", (ids,)
        )
        return await _events_of(reader, await cursor.fetchall())

    async def apply(self, changes: Sequence[AnalyticsEvent], checkpoint: Checkpoint | None) -> int:
        await self._recover()
        await self.store.record(changes)
        if checkpoint is not None:
            async with self.database.unit_of_work() as uow:
                if self.store.stale() and not self._marked:
                    # The first unflushed batch: remember where the flushed part ends (the
                    # checkpoint before this batch), in the transaction that moves past it. Only
                    # over "flushed": a marker already pending stays where it is. (`_marked` can
                    # be wrong after a commit that landed but failed to report, e.g. a lost
                    # connection or a cancel; moving a pending marker forward would drop the
                    # batches before it from the recovery of a crash that followed.)
                    await uow.connection.execute(
                        "INSERT INTO sync_checkpoints (projector, transaction_id, event_id)"
                        " SELECT %(r)s, coalesce(max(transaction_id), '0'), coalesce(max(event_id), 0)"
                        " FROM sync_checkpoints WHERE projector = %(n)s"
                        " ON CONFLICT (projector) DO UPDATE"
                        " SET transaction_id = EXCLUDED.transaction_id, event_id = EXCLUDED.event_id"
                        " WHERE sync_checkpoints.event_id = %(flushed)s",
                        {"r": self._rollups, "n": self.name, "flushed": _FLUSHED},
                    )  # fmt: skip
                await save_checkpoint(uow.connection, checkpoint)
                await uow.commit()
            self._marked = self._marked or self.store.stale()
        if self.store.stale() and time.monotonic() - self._flushed_at >= self.flush_seconds:
            await self.flush()
        return len(changes)

    @property
    def _rollups(self) -> str:
        return f"{self.name}:rollups"

    async def flush(self) -> None:
        """Bring the store's summaries up to every applied batch (the relay calls this when it
        is idle, `apply` every `flush_seconds`), then mark everything flushed."""
        await self._recover()
        await self.store.flush()
        self._flushed_at = time.monotonic()
        if self._marked and not self.store.stale():
            # Unmarked before the write: if it fails, whether or not it landed, the next batch
            # writes the marker again (over "flushed" only), never skips it.
            self._marked = False
            async with self.database.unit_of_work() as uow:
                await save_checkpoint(uow.connection, Checkpoint(self._rollups, 0, _FLUSHED))
                await uow.commit()

    async def _recover(self) -> None:
        """Once per process, before anything else: if the previous one stopped with batches
        applied but not flushed, record them again (which notes their keys) and flush."""
        if self._recovered:
            return
        async with self.database.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT projector, transaction_id::text, event_id FROM sync_checkpoints"
                " WHERE projector = ANY(%s)",
                ([self.name, self._rollups],),
            )
            rows = {r[0]: (int(r[1]), int(r[2])) for r in await cursor.fetchall()}
        since, until = rows.get(self._rollups), rows.get(self.name)
        if since is None or since[1] == _FLUSHED or until is None:
            self._recovered = True
            return
        log.warning("sync %s: recounting the rollups of batches after %s", self.name, since)
        self._marked = True
        position = since
        while True:
            async with self.database.unit_of_work() as uow:
                cursor = await uow.connection.execute(
                    "SELECT id, transaction_id::text, tenant_id, aggregate_type, aggregate_id,"
                    " event_type, payload, created_at FROM outbox_after(%s::text::xid8, %s, %s)"
                    " WHERE (transaction_id, id) <= (%s::text::xid8, %s)",
                    (str(position[0]), position[1], _RECOVERY_ROWS, str(until[0]), until[1]),
                )  # fmt: skip
                found = [OutboxEvent(r[0], int(r[1]), *r[2:]) for r in await cursor.fetchall()]
            if not found:
                break
            by_tenant: dict[UUID, list[OutboxEvent]] = defaultdict(list)
            for e in found:
                if _wanted(e.event_type, e.aggregate_type):
                    by_tenant[e.tenant_id].append(e)
            for tenant_id, events in by_tenant.items():
                await self.store.record(await self._rebuilt(tenant_id, events))
            position = (found[-1].transaction_id, found[-1].id)
        self._recovered = True
        await self.flush()

    async def _rebuilt(self, tenant_id: UUID, events: list[OutboxEvent]) -> list[AnalyticsEvent]:
        """The analytics events of these outbox rows; a row that cannot be built is skipped
        (the relay parked it when it first came)."""
        async with self.database.unit_of_work(tenant_id) as uow:
            try:
                async with uow.connection.transaction():
                    return await self.build(uow, {("outbox", str(e.id)) for e in events}, 0)
            except Exception:
                built: list[AnalyticsEvent] = []
                for e in events:
                    try:
                        async with uow.connection.transaction():
                            built += await self.build(uow, {("outbox", str(e.id))}, 0)
                    except Exception:
                        log.exception("sync %s: outbox row %s skipped", self.name, e.id)
                return built

    # ---- rebuild and verify -----------------------------------------------------------------

    async def everything(self, reader: Reader) -> Collection[Target]:
        cursor = await reader.connection.execute(
            "SELECT id FROM outbox WHERE event_type = %s"
            " OR (aggregate_type = 'order' AND event_type LIKE 'order.%%')",
            (EVENTS_RECORDED,),
        )
        return {("outbox", str(row[0])) for row in await cursor.fetchall()}

    async def reset(self, tenant_id: UUID) -> None:
        """Nothing to empty: rows are keyed by event, so a rebuild writes the same rows again
        (and retention removes the old ones)."""

    async def compare(self, tenant_id: UUID, expected: Sequence[AnalyticsEvent]) -> Drift:
        """Every timeline, order history, product day and day's top products the expected
        events touch, read back from the store: an event missing or extra is named by its id, a
        count that differs (an event counted twice, or lost) or a wrong ranking by its
        partition."""
        return await self._compare(tenant_id, expected, None)

    async def _compare(
        self, tenant_id: UUID, expected: Sequence[AnalyticsEvent], day: date | None
    ) -> Drift:
        """`day`: the expected events are every event of that day (and only those), so an
        order's history is compared on that day's part."""
        drift = Drift()
        kept = [e for e in expected if _retained(self.store, e)]
        drift.checked = len(kept)
        timelines: dict[tuple[str, date], set[UUID]] = defaultdict(set)
        histories: dict[UUID, set[UUID]] = defaultdict(set)
        hourly: dict[tuple[UUID, date], dict[tuple[int, str], int]] = defaultdict(
            lambda: defaultdict(int)
        )
        ranks: dict[date, dict[UUID, list[Any]]] = defaultdict(dict)
        for e in kept:
            if e.user_key is not None:
                timelines[(e.user_key, e.day)].add(e.event_id)
            if e.order_id is not None:
                histories[e.order_id].add(e.event_id)
            if e.product_id is not None:
                hourly[(e.product_id, e.day)][(e.hour, str(e.type))] += 1
                _add_ranks(ranks[e.day], [e])
        store = self.store

        async def timeline(user: str, on: date, wanted: set[UUID]) -> None:
            found = {e.event_id for e in await store.user_timeline(tenant_id, user, on)}
            _diff(drift, tenant_id, f"timeline:{user}:{on}", wanted, found)

        async def history(order_id: UUID, wanted: set[UUID]) -> None:
            found = {
                e.event_id
                for e in await store.order_history(tenant_id, order_id)
                if day is None or e.day == day
            }
            _diff(drift, tenant_id, f"order:{order_id}", wanted, found)

        async def product_day(
            product_id: UUID, on: date, counts: dict[tuple[int, str], int]
        ) -> None:
            stored = {
                (h.hour, str(h.type)): h.events
                for h in await store.product_hourly(tenant_id, product_id, on)
            }
            if stored != dict(counts):
                drift.different.append((tenant_id, "product_hourly", f"{product_id}:{on}"))

        async def top(on: date, totals: dict[UUID, list[Any]]) -> None:
            for by in TOP_BY:
                if not await self._ranking_holds(tenant_id, on, totals, by):
                    drift.different.append((tenant_id, f"top_products_by_{by}", str(on)))

        await _bounded([
            *(timeline(u, on, w) for (u, on), w in timelines.items()),
            *(history(o, w) for o, w in histories.items()),
            *(product_day(p, on, c) for (p, on), c in hourly.items()),
            *(top(on, t) for on, t in ranks.items()),
        ])  # fmt: skip
        return drift

    async def _compare_day(
        self, tenant_id: UUID, records: list[dict[str, Any]], day: date
    ) -> Drift:
        """A day of the shop (its expected events as `to_record` records): set-based by a store
        that can (the twin compares every event and rollup row of the day in one statement),
        else through the queries."""
        store = self.store
        if not isinstance(store, BulkAnalyticsStore):
            return await self._compare(tenant_id, [from_record(tenant_id, r) for r in records], day)
        oldest = datetime.now(UTC) - store.retention
        kept = [r for r in records if datetime.fromisoformat(r["at"]) > oldest]
        drift = await store.compare_day(tenant_id, day, kept)
        # The ranking the application reads, on top of the rows it is read from.
        ranks: dict[UUID, list[Any]] = {}
        for r in kept:
            if r["p"] is not None and r["t"] in (EventType.VIEW, EventType.PURCHASE):
                entry = ranks.setdefault(UUID(r["p"]), [0, 0, Decimal(0)])
                if r["t"] == EventType.VIEW:
                    entry[0] += 1
                else:
                    entry[1] += 1
                    entry[2] += Decimal(r["a"] or 0)
        for by in TOP_BY:
            if not await self._ranking_holds(tenant_id, day, ranks, by):
                drift.different.append((tenant_id, f"top_products_by_{by}", str(day)))
        return drift

    async def _ranking_holds(
        self, tenant_id: UUID, day: date, totals: dict[UUID, list[Any]], by: str
    ) -> bool:
        ranked = {p: ProductRank(p, v, n, r) for p, (v, n, r) in totals.items()}
        wanted = rank_products(ranked, by, _TOP_CHECKED)
        return await self.store.top_products(tenant_id, day, by=by, limit=_TOP_CHECKED) == wanted

    # ---- bounded chunks: rebuild and verify of one tenant (StreamingProjector) ------------

    async def size(self, tenant_id: UUID) -> int:
        async with self.database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                f"SELECT count(*) FROM outbox WHERE tenant_id = %(t)s AND {_WANTED_SQL}",
                {"t": tenant_id, "recorded": EVENTS_RECORDED},
            )
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def stream(
        self, tenant_id: UUID, *, storefront: bool = True
    ) -> AsyncIterator[tuple[int, list[AnalyticsEvent], int, int]]:
        """The tenant's analytics events in chunks of outbox rows (keyset over the outbox's
        primary key, one short transaction per chunk): (outbox rows read, their events, the
        chunk's outbox id range (after, last]). `storefront=False` leaves the storefront
        batches' events out (a bulk store loads those from the outbox itself)."""
        after = 0
        partials: dict[UUID, Decimal] = {}  # partial refunds so far, by order
        payload = (
            "payload"
            if storefront
            else "CASE WHEN event_type = %(recorded)s THEN NULL ELSE payload END"
        )
        while True:
            async with self.database.unit_of_work(tenant_id) as uow:
                cursor = await uow.connection.execute(
                    f"SELECT id, aggregate_type, aggregate_id, event_type, {payload}, created_at"
                    f" FROM outbox WHERE tenant_id = %(t)s AND id > %(after)s AND {_WANTED_SQL}"
                    " ORDER BY id LIMIT %(n)s",
                    {"t": tenant_id, "after": after, "n": _CHUNK_ROWS,
                     "recorded": EVENTS_RECORDED},
                )  # fmt: skip
                rows = await cursor.fetchall()
                if not rows:
                    return
                read, last = len(rows), rows[-1][0]
                if not storefront:
                    rows = [r for r in rows if r[3] != EVENTS_RECORDED]
                events = await _events_of(uow, rows, partials)
            yield read, events, after, last
            after = last

    async def rebuild_tenant(self, tenant_id: UUID, advance: Advance) -> int:
        """Every event of the tenant written again, one chunk written while the next is built.
        A store with a bulk path (the PostgreSQL twin) loads the storefront batches straight
        from the outbox, the order events in one statement per chunk, and recomputes its
        rollups once at the end; another (Cassandra) takes each chunk as a relay batch, with
        its concurrent batched writes."""
        store = self.store
        bulk = store if isinstance(store, BulkAnalyticsStore) else None
        written = 0

        async def write(events: list[AnalyticsEvent], after: int, last: int) -> int:
            if bulk is None:
                await store.record(events)
                return len(events)
            await bulk.load(tenant_id, events)
            return len(events) + await bulk.load_recorded(tenant_id, after, last)

        writing: asyncio.Task[int] | None = None
        try:
            async for rows, events, after, last in self.stream(tenant_id, storefront=bulk is None):
                if writing is not None:
                    written += await writing
                writing = asyncio.create_task(write(events, after, last))
                advance(rows)
            if writing is not None:
                written += await writing
                writing = None
            await store.flush()
        finally:
            if writing is not None:
                writing.cancel()
                with contextlib.suppress(BaseException):
                    await writing
        if bulk is not None:
            await bulk.summarise(tenant_id)
        return written

    async def verify_tenant(self, tenant_id: UUID, advance: Advance) -> Drift:
        """The tenant's expected events spilled to a temporary file by day (sqlite, on disk),
        then compared one day at a time: memory holds one day, not the shop's history."""
        drift = Drift()
        with tempfile.TemporaryDirectory(prefix="polyshop-verify-") as folder:
            spill = sqlite3.connect(Path(folder) / "expected.db")
            try:
                spill.execute("CREATE TABLE expected (day TEXT NOT NULL, event TEXT NOT NULL)")
                read = total = 0
                async for rows, events, _, _ in self.stream(tenant_id):
                    spill.executemany(
                        "INSERT INTO expected VALUES (?, ?)",
                        ((e.day.isoformat(), json.dumps(to_record(e))) for e in events),
                    )
                    spill.commit()
                    read += rows
                    total += len(events)
                    advance(rows)
                spill.execute("CREATE INDEX expected_day ON expected (day)")
                days = [row[0] for row in spill.execute("SELECT DISTINCT day FROM expected")]
                compared = reported = 0
                for on in sorted(days):
                    expected = [
                        json.loads(row[0])
                        for row in spill.execute("SELECT event FROM expected WHERE day = ?", (on,))
                    ]
                    found = await self._compare_day(tenant_id, expected, date.fromisoformat(on))
                    drift.missing += found.missing
                    drift.extra += found.extra
                    drift.different += found.different
                    drift.checked += found.checked
                    # The comparing half of the progress, in the same units as the reading half.
                    compared += len(expected)
                    advance(read * compared // total - reported)
                    reported = read * compared // total
            finally:
                spill.close()
        return drift


async def _events_of(
    reader: Reader, rows: list[Any], partials: dict[UUID, Decimal] | None = None
) -> list[AnalyticsEvent]:
    """The analytics events of these outbox rows (in their order): one home for the rule, used by
    the relay's batches, the rebuild and verify.

    `partials`: when the caller reads the whole outbox in id order (rebuild, verify), the
    partial refunds seen so far per order, kept here, so that a full refund's rest needs no
    search of the outbox (which has no index by aggregate: a search per refund made a rebuild
    quadratic)."""
    tenant = reader.tenant_id
    orders = {UUID(r[2]) for r in rows if r[1] == Aggregate.ORDER}
    owners = await _order_owners(reader, orders)
    lines = await _order_lines(reader, {UUID(r[2]) for r in rows if r[3] == _PLACED})
    refunded: dict[UUID, Decimal] = {}
    if partials is not None:
        refunded = await _refunded(reader, {UUID(r[2]) for r in rows if r[3] == _FULL_REFUND})
    events: list[AnalyticsEvent] = []
    for outbox_id, _kind, key, event_type, payload, created_at in rows:
        if event_type == EVENTS_RECORDED:
            events += [storefront_event(tenant, raw) for raw in payload["events"]]
            continue
        order_id = UUID(key)
        customer = owners.get(order_id)
        common: dict[str, Any] = {
            "tenant_id": tenant, "occurred_at": created_at, "customer_id": customer,
            "order_id": order_id,
        }  # fmt: skip
        if event_type == _PLACED:
            for item_id, product_id, quantity, total, category_id in lines[order_id]:
                events.append(AnalyticsEvent(
                    event_id=derived_event_id(outbox_id, f"item:{item_id}"),
                    type=EventType.PURCHASE, product_id=product_id, category_id=category_id,
                    quantity=quantity, amount=total, **common,
                ))  # fmt: skip
            continue
        if event_type in (_PARTIAL_REFUND, _SETTLED_REFUND):
            if partials is not None and event_type == _PARTIAL_REFUND:
                partials[order_id] = partials.get(order_id, Decimal(0)) + Decimal(
                    str(payload["amount"])
                )
            events.append(AnalyticsEvent(
                event_id=derived_event_id(outbox_id, "refund"), type=EventType.REFUND,
                amount=Decimal(str(payload["amount"])),
                detail="partial" if event_type == _PARTIAL_REFUND else "settled", **common,
            ))  # fmt: skip
            continue
        events.append(AnalyticsEvent(
            event_id=derived_event_id(outbox_id, "status"), type=EventType.ORDER_STATUS,
            detail=_status_detail(event_type, payload), **common,
        ))  # fmt: skip
        if event_type == _FULL_REFUND:
            if partials is None:
                amount = await _rest_refunded(reader, order_id, outbox_id)
            else:
                amount = refunded.get(order_id, Decimal(0)) - partials.get(order_id, Decimal(0))
            events.append(AnalyticsEvent(
                event_id=derived_event_id(outbox_id, "refund"), type=EventType.REFUND,
                amount=amount, detail="full", **common,
            ))  # fmt: skip
    return events


def _add_ranks(totals: dict[UUID, list[Any]], events: Sequence[AnalyticsEvent]) -> None:
    """Views, purchases and revenue per product, as the day's top products count them."""
    for e in events:
        if e.product_id is None or e.type not in (EventType.VIEW, EventType.PURCHASE):
            continue
        entry = totals.setdefault(e.product_id, [0, 0, Decimal(0)])
        if e.type == EventType.VIEW:
            entry[0] += 1
        else:
            entry[1] += 1
            entry[2] += e.amount or Decimal(0)


async def _bounded(work: list[Awaitable[None]]) -> None:
    """Run every read, at most `_READS_IN_FLIGHT` at a time (the first failure fails all)."""
    limit = asyncio.Semaphore(_READS_IN_FLIGHT)

    async def one(step: Awaitable[None]) -> None:
        async with limit:
            await step

    await asyncio.gather(*(one(step) for step in work))


def _status_detail(event_type: str, payload: dict[str, Any]) -> str:
    """`confirmed->shipped` for a status change; the event's own name (`reserved`) otherwise."""
    if "to" in payload:
        return f"{payload.get('from')}->{payload['to']}"
    return event_type.removeprefix("order.")


def _retained(store: AnalyticsStore, event: AnalyticsEvent) -> bool:
    return event.occurred_at > datetime.now(UTC) - store.retention


def _diff(drift: Drift, tenant_id: UUID, where: str, wanted: set[UUID], found: set[UUID]) -> None:
    drift.missing += [(tenant_id, where, str(i)) for i in sorted(wanted - found, key=str)]
    drift.extra += [(tenant_id, where, str(i)) for i in sorted(found - wanted, key=str)]


async def _order_owners(reader: Reader, orders: set[UUID]) -> dict[UUID, UUID]:
    if not orders:
        return {}
    cursor = await reader.connection.execute(
        "SELECT id, user_id FROM orders WHERE id = ANY(%s)", (list(orders),)
    )
    return {row[0]: row[1] for row in await cursor.fetchall()}


async def _order_lines(
    reader: Reader, orders: set[UUID]
) -> dict[UUID, list[tuple[UUID, UUID, int, Decimal, UUID | None]]]:
    found: dict[UUID, list[tuple[UUID, UUID, int, Decimal, UUID | None]]] = defaultdict(list)
    if not orders:
        return found
    cursor = await reader.connection.execute(
        "SELECT i.order_id, i.id, i.product_id, i.quantity, i.total_price, p.category_id"
        " FROM order_items i LEFT JOIN products p ON p.id = i.product_id"
        " WHERE i.order_id = ANY(%s) ORDER BY i.order_id, i.id",
        (list(orders),),
    )
    for order_id, *line in await cursor.fetchall():
        found[order_id].append((line[0], line[1], line[2], line[3], line[4]))
    return found


async def _refunded(reader: Reader, orders: set[UUID]) -> dict[UUID, Decimal]:
    """Everything refunded of each order (its payments' refunded amounts)."""
    if not orders:
        return {}
    cursor = await reader.connection.execute(
        "SELECT order_id, coalesce(sum(refunded_amount), 0) FROM payments"
        " WHERE order_id = ANY(%s) GROUP BY order_id",
        (list(orders),),
    )
    return {row[0]: Decimal(row[1]) for row in await cursor.fetchall()}


async def _rest_refunded(reader: Reader, order_id: UUID, outbox_id: int) -> Decimal:
    """What the full refund added: everything refunded minus the partial refunds before it."""
    cursor = await reader.connection.execute(
        "SELECT (SELECT coalesce(sum(refunded_amount), 0) FROM payments WHERE order_id = %(o)s)"
        " - (SELECT coalesce(sum((payload ->> 'amount')::numeric), 0) FROM outbox"
        "     WHERE aggregate_type = 'order' AND aggregate_id = %(k)s"
        "       AND event_type = %(partial)s AND id < %(id)s)",
        {"o": order_id, "k": str(order_id), "partial": _PARTIAL_REFUND, "id": outbox_id},
    )
    row = await cursor.fetchone()
    assert row is not None
    return Decimal(row[0])
