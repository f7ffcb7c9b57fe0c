"""The outbox relay: delivers every committed event to each projector, in an order that never
skips a transaction that commits late, at least once; the projector applies idempotently.

Ordering model. Outbox rows carry their writing transaction (`xid8`). The relay reads rows in
(transaction, id) order and only from transactions older than the oldest one still running
(`pg_snapshot_xmin`), so no row can ever appear behind its checkpoint: a long transaction holds
the relay back (that is the lag metric) but is never passed. Documents are rebuilt from current
state, so applying an event twice writes the same document; each document is versioned by the
snapshot it was built from, so an older build never overwrites a newer one.

One `Relay` per projector (its own checkpoint, lag, parked events and advisory lock); `Relays`
runs them side by side, so a projector whose store is down does not hold back the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from prometheus_client import Gauge

from polyshop.adapters.postgres import Database, UnitOfWork
from polyshop.ports import Checkpoint, FlushingProjector, OutboxEvent, Projector, Target

log = logging.getLogger(__name__)

RELAY_LAG = Gauge(
    "polyshop_sync_lag_seconds", "Age of the newest event a projector applied.", ["projector"]
)
RELAY_PENDING = Gauge("polyshop_sync_pending_events", "Events not yet applied.", ["projector"])

# Errors that say "this event (or document) is bad", not "a store is down": they park events.
# Anything else propagates and the batch is tried again later.
_BAD_EVENT = (psycopg.Error, ValueError, KeyError, TypeError)
_BAD_BUILD = (psycopg.DataError, ValueError, KeyError, TypeError)


async def snapshot_version(uow: UnitOfWork) -> int:
    """A version no older build can reach: the xmin of the snapshot the build reads."""
    cursor = await uow.connection.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


class Relay:
    """Delivers the outbox to one projector, batch by batch, from its own checkpoint."""

    def __init__(
        self, database: Database, projector: Projector[Any], *, batch_size: int = 200,
        max_attempts: int = 3,
    ) -> None:  # fmt: skip
        self.database = database
        self.projector = projector
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self.name = projector.name

    async def checkpoint(self) -> Checkpoint:
        async with self.database.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT transaction_id::text, event_id FROM sync_checkpoints WHERE projector = %s",
                (self.name,),
            )
            row = await cursor.fetchone()
        return (
            Checkpoint(self.name, int(row[0]), int(row[1])) if row else Checkpoint(self.name, 0, 0)
        )

    async def pending(self) -> tuple[int, datetime | None]:
        position = await self.checkpoint()
        async with self.database.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT pending, oldest FROM outbox_pending(%s::text::xid8, %s)",
                (str(position.transaction_id), position.event_id),
            )
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0]), row[1]

    async def fetch(self, position: Checkpoint) -> list[OutboxEvent]:
        """The next batch after `position`, in delivery order."""
        async with self.database.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT id, transaction_id::text, tenant_id, aggregate_type, aggregate_id, event_type,"
                " payload, created_at FROM outbox_after(%s::text::xid8, %s, %s)",
                (str(position.transaction_id), position.event_id, self._batch_size),
            )
            rows = await cursor.fetchall()
        return [OutboxEvent(r[0], int(r[1]), *r[2:]) for r in rows]

    async def step(self) -> int:
        """Apply the next batch; returns how many events it covered (0: caught up)."""
        return len(await self.step_events())

    async def step_events(self) -> list[OutboxEvent]:
        """Apply the next batch; returns its events (empty: caught up)."""
        events = await self.fetch(await self.checkpoint())
        if not events:
            RELAY_PENDING.labels(self.name).set(0)
            return []
        changes: list[Any] = []
        by_tenant: dict[UUID, list[OutboxEvent]] = defaultdict(list)
        for event in events:
            by_tenant[event.tenant_id].append(event)
        for tenant_id, tenant_events in by_tenant.items():
            changes += await self._project_tenant(tenant_id, tenant_events)
        last = events[-1]
        await self.projector.apply(changes, Checkpoint(self.name, last.transaction_id, last.id))
        RELAY_LAG.labels(self.name).set(
            max(0.0, (datetime.now(UTC) - last.created_at).total_seconds())
        )
        return events

    async def _project_tenant(self, tenant_id: UUID, events: list[OutboxEvent]) -> list[Any]:
        """Build every target these events touch, once each; a target that cannot be built
        after a few attempts parks the events that asked for it, and the relay moves on."""
        failed: dict[int, str] = {}
        found: dict[int, Any] = {}
        async with self.database.unit_of_work(tenant_id) as uow:
            try:
                # A savepoint: a bad event spoils nothing else in this transaction...
                async with uow.connection.transaction():
                    found = dict(await self.projector.targets(uow, events))
            except _BAD_EVENT:
                # ...and then each event alone finds out which one it was.
                for event in events:
                    try:
                        async with uow.connection.transaction():
                            found.update(await self.projector.targets(uow, [event]))
                    except _BAD_EVENT as exc:
                        failed[event.id] = f"{type(exc).__name__}: {exc}"
        wanted: dict[Target, list[OutboxEvent]] = defaultdict(list)
        for event in events:
            for target in found.get(event.id, ()):
                wanted[target].append(event)
        changes: list[Any] = []
        if wanted:
            try:
                changes = await self._build(tenant_id, list(wanted))
            except _BAD_BUILD:
                changes = await self._build_each(tenant_id, wanted, failed)
        if failed:
            await self._park(tenant_id, [e for e in events if e.id in failed], failed)
        return changes

    async def _build(self, tenant_id: UUID, targets: list[Target]) -> list[Any]:
        async with self.database.unit_of_work(tenant_id) as uow:
            version = await snapshot_version(uow)
            return await self.projector.build(uow, targets, version)

    async def _build_each(
        self, tenant_id: UUID, wanted: dict[Target, list[OutboxEvent]], failed: dict[int, str]
    ) -> list[Any]:
        changes: list[Any] = []
        for target, asking in sorted(wanted.items()):
            for attempt in range(1, self._max_attempts + 1):
                try:
                    changes += await self._build(tenant_id, [target])
                    break
                except _BAD_BUILD as exc:
                    if attempt == self._max_attempts:
                        for event in asking:
                            failed[event.id] = f"{type(exc).__name__}: {exc}"
        return changes

    async def _park(
        self, tenant_id: UUID, events: list[OutboxEvent], errors: dict[int, str]
    ) -> None:
        async with self.database.unit_of_work(tenant_id) as uow:
            for event in events:
                log.error("sync %s: parking event %s (%s): %s", self.name, event.id,
                          event.event_type, errors[event.id])  # fmt: skip
                await uow.connection.execute(
                    "INSERT INTO sync_parked (tenant_id, projector, event_id, event_type, error,"
                    " attempts) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (tenant_id, self.name, event.id, event.event_type, errors[event.id][:2000],
                     self._max_attempts),
                )  # fmt: skip
            await uow.commit()

    async def run_until_idle(self) -> int:
        total = 0
        while applied := await self.step():
            total += applied
        await self.flush()
        return total

    async def flush(self) -> None:
        """Let a projector that defers work (coalesced over batches) finish it: caught up."""
        if isinstance(self.projector, FlushingProjector):
            await self.projector.flush()

    async def run(self, listen_url: str, stop: asyncio.Event, *, poll_seconds: float = 1.0) -> None:
        """Work until `stop` is set: wake on NOTIFY, poll as a fallback. Only one relay per
        projector works at a time (a session advisory lock); another one waits its turn. A
        batch that fails (its store is down) is tried again after `poll_seconds`."""
        async with await psycopg.AsyncConnection.connect(listen_url, autocommit=True) as listener:
            while not stop.is_set():
                cursor = await listener.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                    (f"polyshop.relay.{self.name}",),
                )
                if (await cursor.fetchone()) == (True,):
                    break
                await asyncio.sleep(poll_seconds)
            else:
                return  # stopped before its turn came: nothing of its own to finish
            await listener.execute("LISTEN polyshop_outbox")
            while not stop.is_set():
                try:
                    if await self.step():
                        continue
                    await self.flush()
                    pending, _ = await self.pending()
                except Exception:
                    log.exception("sync %s: batch failed; trying again", self.name)
                    await _sleep_unless(stop, poll_seconds)
                    continue
                RELAY_PENDING.labels(self.name).set(pending)
                started = time.monotonic()
                async for _ in listener.notifies(timeout=poll_seconds, stop_after=1):
                    break
                if time.monotonic() - started < 0.001:
                    await asyncio.sleep(0)  # a burst of notifications: yield before reading
            # Stopping: finish the deferred work of the batches applied (an error here is left
            # to the next start, which finds it pending).
            try:
                await self.flush()
            except Exception:
                log.exception("sync %s: flush on stopping failed", self.name)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


class Relays:
    """The relays of every projector, run side by side in one process."""

    def __init__(self, relays: Sequence[Relay]) -> None:
        self._relays = {relay.name: relay for relay in relays}
        if len(self._relays) != len(relays):
            raise ValueError("two projectors share a name (and would share a checkpoint)")

    def __getitem__(self, name: str) -> Relay:
        return self._relays[name]

    def __iter__(self) -> Iterator[Relay]:
        return iter(self._relays.values())

    def __contains__(self, name: object) -> bool:
        return name in self._relays

    @property
    def names(self) -> list[str]:
        return list(self._relays)

    async def run_until_idle(self) -> dict[str, int]:
        """Catch every projector up; one that fails does not stop the others (its error is
        raised once they are done)."""
        results = await asyncio.gather(
            *(relay.run_until_idle() for relay in self), return_exceptions=True
        )
        applied: dict[str, int] = {}
        for name, result in zip(self._relays, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            applied[name] = result
        return applied

    async def run(self, listen_url: str, stop: asyncio.Event, *, poll_seconds: float = 1.0) -> None:
        await asyncio.gather(
            *(relay.run(listen_url, stop, poll_seconds=poll_seconds) for relay in self)
        )
