"""Rebuilding a derived store from PostgreSQL and checking it for drift, for any projector whose
store holds state (a `RebuildableProjector`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from polyshop.adapters.postgres import Database
from polyshop.domain.errors import ValidationError
from polyshop.ports import (
    BulkRebuildableProjector,
    Checkpoint,
    Drift,
    RebuildableProjector,
    StreamingProjector,
)
from polyshop.sync.relay import Relay, snapshot_version

Progress = Callable[[int, int], None]
T = TypeVar("T")

# Targets built per transaction while rebuilding: bounded memory, short snapshots.
_CHUNK = 500


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
    if isinstance(projector, StreamingProjector):
        written = sum(await _each_tenant(projector, tenants, progress, projector.rebuild_tenant, 1))
        await projector.apply([], Checkpoint(relay.name, head.transaction_id, head.event_id))
        return written
    for done, tenant_id in enumerate(tenants, start=1):
        if isinstance(projector, BulkRebuildableProjector):  # set-based, e.g. the graph
            written += await projector.bulk_rebuild(tenant_id)
            if progress:
                progress(done, len(tenants))
            continue
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
    if isinstance(projector, StreamingProjector):
        # Reading the expected state, then comparing: two passes over the same units.
        for found in await _each_tenant(projector, tenants, progress, projector.verify_tenant, 2):
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


async def _each_tenant(
    projector: StreamingProjector,
    tenants: list[UUID],
    progress: Progress | None,
    work: Callable[[UUID, Callable[[int], None]], Awaitable[T]],
    passes: int,
) -> list[T]:
    """Run a streaming projector's job on every tenant, reporting progress in its units (outbox
    rows) across all tenants rather than per finished tenant."""
    total = passes * sum([await projector.size(t) for t in tenants])
    done = 0

    def advance(units: int) -> None:
        nonlocal done
        done += units
        if progress:
            progress(min(done, total), total)

    results = [await work(tenant_id, advance) for tenant_id in tenants]
    if progress:
        progress(total, total)
    return results
