"""The outbox relay: delivers every committed event to a projector, in an order that never
skips a transaction that commits late, at least once; the projector applies idempotently.

Ordering model. Outbox rows carry their writing transaction (`xid8`). The relay reads rows in
(transaction, id) order and only from transactions older than the oldest one still running
(`pg_snapshot_xmin`), so no row can ever appear behind its checkpoint: a long transaction holds
the relay back (that is the lag metric) but is never passed. Documents are rebuilt from current
state, so applying an event twice writes the same document; each document is versioned by the
snapshot it was built from, so an older build never overwrites a newer one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from prometheus_client import Gauge

from polyshop.adapters.postgres import Database, UnitOfWork
from polyshop.adapters.postgres._shared_sql import CATEGORY_SUBTREE
from polyshop.ports import Checkpoint, DocumentChange, DocumentStore
from polyshop.sync.documents import BUILDERS

log = logging.getLogger(__name__)

RELAY_LAG = Gauge(
    "polyshop_sync_lag_seconds", "Age of the newest event a projector applied.", ["projector"]
)
RELAY_PENDING = Gauge("polyshop_sync_pending_events", "Events not yet applied.", ["projector"])


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: int
    transaction_id: int
    tenant_id: UUID
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime


Target = tuple[str, str]  # (collection, document id)


class DocumentProjector:
    """Projects products, users and orders into a DocumentStore."""

    def __init__(
        self, database: Database, store: DocumentStore, *, name: str = "documents"
    ) -> None:
        self.database = database
        self.store = store
        self.name = name

    async def targets(self, uow: UnitOfWork, event: OutboxEvent) -> set[Target]:
        kind, key = event.aggregate_type, event.aggregate_id
        if kind == "product":
            return {("products", str(UUID(key)))}
        if kind == "user":
            return {("users", str(UUID(key)))}
        if kind == "order":
            # The order, and the products whose stock it moved.
            cursor = await uow.connection.execute(
                "SELECT DISTINCT product_id FROM order_items WHERE order_id = %s", (UUID(key),)
            )
            products = {("products", str(row[0])) for row in await cursor.fetchall()}
            return {("orders", str(UUID(key))), *products}
        if kind == "category":
            cursor = await uow.connection.execute(
                f"SELECT p.id FROM products p WHERE p.category_id IN ({CATEGORY_SUBTREE})",
                (UUID(key),),
            )
            return {("products", str(row[0])) for row in await cursor.fetchall()}
        if kind == "inventory":
            return {("products", str(UUID(side["product_id"])))
                    for side in (event.payload["from"], event.payload["to"])}  # fmt: skip
        return set()

    async def build(
        self, uow: UnitOfWork, tenant_id: UUID, targets: Iterable[Target], version: int
    ) -> list[DocumentChange]:
        changes = []
        for collection, doc_id in sorted(targets):
            document = await BUILDERS[collection](uow.connection, UUID(doc_id))
            changes.append(DocumentChange(tenant_id, collection, doc_id, document, version))
        return changes


async def snapshot_version(uow: UnitOfWork) -> int:
    """A version no older build can reach: the xmin of the snapshot the build reads."""
    cursor = await uow.connection.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


class Relay:
    def __init__(
        self, database: Database, projector: DocumentProjector, *, batch_size: int = 200,
        max_attempts: int = 3,
    ) -> None:  # fmt: skip
        self._database = database
        self._projector = projector
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self.name = projector.name

    async def checkpoint(self) -> Checkpoint:
        async with self._database.unit_of_work() as uow:
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
        async with self._database.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT pending, oldest FROM outbox_pending(%s::text::xid8, %s)",
                (str(position.transaction_id), position.event_id),
            )
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0]), row[1]

    async def _fetch(self, position: Checkpoint) -> list[OutboxEvent]:
        async with self._database.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT id, transaction_id::text, tenant_id, aggregate_type, aggregate_id, event_type,"
                " payload, created_at FROM outbox_after(%s::text::xid8, %s, %s)",
                (str(position.transaction_id), position.event_id, self._batch_size),
            )
            rows = await cursor.fetchall()
        return [OutboxEvent(r[0], int(r[1]), *r[2:]) for r in rows]

    async def step(self) -> int:
        """Apply the next batch; returns how many events it covered (0: caught up)."""
        events = await self._fetch(await self.checkpoint())
        if not events:
            RELAY_PENDING.labels(self.name).set(0)
            return 0
        changes: list[DocumentChange] = []
        by_tenant: dict[UUID, list[OutboxEvent]] = defaultdict(list)
        for event in events:
            by_tenant[event.tenant_id].append(event)
        for tenant_id, tenant_events in by_tenant.items():
            changes += await self._project_tenant(tenant_id, tenant_events)
        last = events[-1]
        await self._projector.store.apply(
            changes, Checkpoint(self.name, last.transaction_id, last.id)
        )
        RELAY_LAG.labels(self.name).set(
            max(0.0, (datetime.now(UTC) - last.created_at).total_seconds())
        )
        return len(events)

    async def _project_tenant(
        self, tenant_id: UUID, events: list[OutboxEvent]
    ) -> list[DocumentChange]:
        """Build every document these events touch, once each; a document that cannot be built
        after a few attempts parks the events that asked for it, and the relay moves on."""
        wanted: dict[Target, list[OutboxEvent]] = defaultdict(list)
        failed: dict[int, str] = {}
        async with self._database.unit_of_work(tenant_id) as uow:
            for event in events:
                try:
                    # A savepoint: one bad event spoils nothing else in this transaction.
                    async with uow.connection.transaction():
                        found = await self._projector.targets(uow, event)
                except (psycopg.Error, ValueError, KeyError, TypeError) as exc:
                    failed[event.id] = f"{type(exc).__name__}: {exc}"
                    continue
                for target in found:
                    wanted[target].append(event)
        changes: list[DocumentChange] = []
        for target, asking in sorted(wanted.items()):
            for attempt in range(1, self._max_attempts + 1):
                try:
                    async with self._database.unit_of_work(tenant_id) as uow:
                        version = await snapshot_version(uow)
                        changes += await self._projector.build(uow, tenant_id, [target], version)
                    break
                except (psycopg.DataError, ValueError, KeyError, TypeError) as exc:
                    if attempt == self._max_attempts:
                        for event in asking:
                            failed[event.id] = f"{type(exc).__name__}: {exc}"
        if failed:
            await self._park(tenant_id, [e for e in events if e.id in failed], failed)
        return changes

    async def _park(
        self, tenant_id: UUID, events: list[OutboxEvent], errors: dict[int, str]
    ) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
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
        return total

    async def run(self, listen_url: str, stop: asyncio.Event, *, poll_seconds: float = 1.0) -> None:
        """Work until `stop` is set: wake on NOTIFY, poll as a fallback. Only one relay per
        projector works at a time (a session advisory lock); another one waits its turn."""
        async with await psycopg.AsyncConnection.connect(listen_url, autocommit=True) as listener:
            while not stop.is_set():
                cursor = await listener.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                    (f"polyshop.relay.{self.name}",),
                )
                if (await cursor.fetchone()) == (True,):
                    break
                await asyncio.sleep(poll_seconds)
            await listener.execute("LISTEN polyshop_outbox")
            while not stop.is_set():
                if await self.step():
                    continue
                pending, _ = await self.pending()
                RELAY_PENDING.labels(self.name).set(pending)
                started = time.monotonic()
                async for _ in listener.notifies(timeout=poll_seconds, stop_after=1):
                    break
                if time.monotonic() - started < 0.001:
                    await asyncio.sleep(0)  # a burst of notifications: yield before reading
