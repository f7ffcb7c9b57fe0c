"""Rebuilding a derived store from PostgreSQL and checking it for drift."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from polyshop.adapters.postgres import Database
from polyshop.ports import Checkpoint, DocumentChange
from polyshop.sync.documents import BUILDERS, COLLECTIONS
from polyshop.sync.relay import DocumentProjector, Relay, snapshot_version

_IDS = {"products": "SELECT id FROM products", "users": "SELECT id FROM users",
        "orders": "SELECT id FROM orders"}  # fmt: skip

Progress = Callable[[int, int], None]


async def tenant_ids(database: Database) -> list[UUID]:
    async with database.unit_of_work() as uow:
        cursor = await uow.connection.execute("SELECT id FROM tenants ORDER BY created_at, id")
        return [row[0] for row in await cursor.fetchall()]


async def _expected(
    database: Database, tenant_id: UUID, collection: str
) -> dict[str, dict[str, Any]]:
    async with database.unit_of_work(tenant_id) as uow:
        cursor = await uow.connection.execute(_IDS[collection])
        ids = [row[0] for row in await cursor.fetchall()]
        built = {}
        for doc_id in ids:
            document = await BUILDERS[collection](uow.connection, doc_id)
            if document is not None:
                built[str(doc_id)] = document
        return built


async def _head(database: Database) -> Checkpoint:
    """The last event no running transaction can still precede."""
    async with database.unit_of_work() as uow:
        # Order by the xid8 itself: ordered after the ::text cast, "9999" would beat "10000".
        cursor = await uow.connection.execute(
            "SELECT head.transaction_id::text, head.id FROM ("
            " SELECT e.transaction_id, e.id FROM outbox_after('0'::xid8, 0, 2147483647) e"
            " ORDER BY e.transaction_id DESC, e.id DESC LIMIT 1) head"
        )
        row = await cursor.fetchone()
    return Checkpoint("", int(row[0]), int(row[1])) if row else Checkpoint("", 0, 0)


async def rebuild(
    relay: Relay, projector: DocumentProjector, progress: Progress | None = None, *,
    tenants: list[UUID] | None = None,
) -> int:  # fmt: skip
    """Empty the store and project every product, user and order again; the relay resumes from
    the position the rebuild started at (events after it are applied again, harmlessly)."""
    database = projector.database
    head = await _head(database)
    tenants = tenants if tenants is not None else await tenant_ids(database)
    total, done = len(tenants) * len(COLLECTIONS), 0
    written = 0
    for tenant_id in tenants:
        for collection in COLLECTIONS:
            await projector.store.clear(tenant_id, collection)
            async with database.unit_of_work(tenant_id) as uow:
                version = await snapshot_version(uow)
            documents = await _expected(database, tenant_id, collection)
            changes = [DocumentChange(tenant_id, collection, doc_id, doc, version)
                       for doc_id, doc in documents.items()]  # fmt: skip
            written += await projector.store.apply(changes, None)
            done += 1
            if progress:
                progress(done, total)
    await projector.store.apply([], Checkpoint(relay.name, head.transaction_id, head.event_id))
    return written


@dataclass
class Drift:
    missing: list[tuple[UUID, str, str]] = field(default_factory=list)
    extra: list[tuple[UUID, str, str]] = field(default_factory=list)
    different: list[tuple[UUID, str, str]] = field(default_factory=list)
    checked: int = 0

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.different)


async def verify(
    projector: DocumentProjector, progress: Progress | None = None, *,
    tenants: list[UUID] | None = None,
) -> Drift:  # fmt: skip
    """Compare every document with what PostgreSQL says it should be now."""
    database = projector.database
    drift = Drift()
    tenants = tenants if tenants is not None else await tenant_ids(database)
    total, done = len(tenants) * len(COLLECTIONS), 0
    for tenant_id in tenants:
        for collection in COLLECTIONS:
            expected = await _expected(database, tenant_id, collection)
            actual = await projector.store.all(tenant_id, collection)
            drift.checked += len(expected)
            drift.missing += [
                (tenant_id, collection, i) for i in sorted(expected.keys() - actual.keys())
            ]
            drift.extra += [
                (tenant_id, collection, i) for i in sorted(actual.keys() - expected.keys())
            ]
            drift.different += [
                (tenant_id, collection, i)
                for i in sorted(expected.keys() & actual.keys())
                if expected[i] != actual[i]
            ]
            done += 1
            if progress:
                progress(done, total)
    return drift
