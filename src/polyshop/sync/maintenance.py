"""Rebuilding a derived store from PostgreSQL and checking it for drift, for any projector whose
store holds state (a `RebuildableProjector`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from polyshop.adapters.postgres import Database
from polyshop.domain.errors import ValidationError
from polyshop.ports import Checkpoint, Drift, Reader, RebuildableProjector
from polyshop.sync.relay import Relay, snapshot_version

Progress = Callable[[int, int], None]

# Targets built per transaction while rebuilding: bounded memory, short snapshots.
_CHUNK = 500
# Tenants rebuilt or verified at the same time by a `BulkRebuild`: while one waits for the
# server, another's chunk is built or compared (each holds one pooled connection at a time).
_PARALLEL_TENANTS = 2


@runtime_checkable
class BulkRebuild(Protocol):
    """A projector with its own way of rebuilding and verifying a whole tenant at scale (the
    documents: built by the server in chunks, compared in streamed chunks), instead of
    `everything` + `build` + `compare`, which hold every target of a tenant in memory."""

    async def count(self, reader: Reader) -> int:
        """The tenant's targets, for the progress bar."""
        ...

    async def rebuild_tenant(
        self, database: Database, tenant_id: UUID, advance: Callable[[int], None] | None = None
    ) -> int: ...

    async def verify_tenant(
        self, database: Database, tenant_id: UUID, advance: Callable[[int], None] | None = None
    ) -> Drift: ...


async def _sizes(database: Database, projector: BulkRebuild, tenants: list[UUID]) -> int:
    total = 0
    for tenant_id in tenants:
        async with database.unit_of_work(tenant_id) as uow:
            total += await projector.count(uow)
    return total


async def tenant_ids(database: Database) -> list[UUID]:
    async with database.unit_of_work() as uow:
        cursor = await uow.connection.execute("SELECT id FROM tenants ORDER BY created_at, id")
        return [row[0] for row in await cursor.fetchall()]


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


async def start_at_head(relay: Relay) -> Checkpoint:
    """Move a projector's checkpoint to the head of the outbox without projecting anything
    (a new projector that does not need the past)."""
    head = await _head(relay.database)
    checkpoint = Checkpoint(relay.name, head.transaction_id, head.event_id)
    await relay.projector.apply([], checkpoint)
    return checkpoint


def rebuildable(relay: Relay) -> RebuildableProjector[Any]:
    projector = relay.projector
    if not isinstance(projector, RebuildableProjector):
        raise ValidationError(f"projector {relay.name!r} cannot be rebuilt or verified")
    return projector


async def rebuild(
    relay: Relay, progress: Progress | None = None, *, tenants: list[UUID] | None = None
) -> int:
    """Empty the projector's store and project everything again; the relay resumes from the
    position the rebuild started at (events after it are applied again, harmlessly)."""
    projector = rebuildable(relay)
    database = relay.database
    head = await _head(database)
    tenants = tenants if tenants is not None else await tenant_ids(database)
    written = 0
    if isinstance(projector, BulkRebuild):
        # Progress in targets, not tenants: a tenant of a million orders takes minutes.
        total, done = await _sizes(database, projector, tenants), 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, total)

        async def one(tenant_id: UUID) -> int:
            async with parallel:
                await projector.reset(tenant_id)
                return await projector.rebuild_tenant(database, tenant_id, advance)

        parallel = asyncio.Semaphore(_PARALLEL_TENANTS)
        written = sum(await asyncio.gather(*(one(t) for t in tenants)))
        await projector.apply([], Checkpoint(relay.name, head.transaction_id, head.event_id))
        return written
    for done, tenant_id in enumerate(tenants, start=1):
        await projector.reset(tenant_id)
        async with database.unit_of_work(tenant_id) as uow:
            targets = sorted(await projector.everything(uow))
        for start in range(0, len(targets), _CHUNK):
            async with database.unit_of_work(tenant_id) as uow:
                version = await snapshot_version(uow)
                changes = await projector.build(uow, targets[start : start + _CHUNK], version)
            written += await projector.apply(changes, None)
        if progress:
            progress(done, len(tenants))
    await projector.apply([], Checkpoint(relay.name, head.transaction_id, head.event_id))
    return written


async def verify(
    relay: Relay, progress: Progress | None = None, *, tenants: list[UUID] | None = None
) -> Drift:
    """Compare the projector's store with what PostgreSQL says it should hold now."""
    projector = rebuildable(relay)
    database = relay.database
    drift = Drift()
    tenants = tenants if tenants is not None else await tenant_ids(database)
    if isinstance(projector, BulkRebuild):
        total, checked = await _sizes(database, projector, tenants), 0

        def advance(n: int) -> None:
            nonlocal checked
            checked += n
            if progress:
                progress(checked, total)

        async def check(tenant_id: UUID) -> Drift:
            async with parallel:
                return await projector.verify_tenant(database, tenant_id, advance)

        parallel = asyncio.Semaphore(_PARALLEL_TENANTS)
        for found in await asyncio.gather(*(check(t) for t in tenants)):
            drift.missing += found.missing
            drift.extra += found.extra
            drift.different += found.different
            drift.checked += found.checked
        return drift
    for done, tenant_id in enumerate(tenants, start=1):
        async with database.unit_of_work(tenant_id) as uow:
            version = await snapshot_version(uow)
            expected = await projector.build(uow, await projector.everything(uow), version)
        found = await projector.compare(tenant_id, expected)
        drift.missing += found.missing
        drift.extra += found.extra
        drift.different += found.different
        drift.checked += found.checked
        if progress:
            progress(done, len(tenants))
    return drift
