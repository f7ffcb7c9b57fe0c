"""Several projectors on one relay process: each keeps its own checkpoint and lag, and one whose
store fails does not hold back the others."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence

import psycopg
from prometheus_client import REGISTRY

from polyshop import bootstrap
from polyshop.adapters.postgres import Database, save_checkpoint
from polyshop.ports import Checkpoint, OutboxEvent, Reader, Target
from polyshop.sync import DocumentProjector, Relay, Relays
from polyshop.sync.maintenance import rebuild, start_at_head
from tests.support.shops import make_shop


class RecordingProjector:
    """The smallest projector: one target per event, kept in memory; its store can be 'down'."""

    def __init__(self, database: Database, name: str) -> None:
        self.name = name
        self.database = database
        self.seen: list[tuple[uuid.UUID, str, str]] = []
        self.down = False
        self.failures = 0

    async def targets(
        self, reader: Reader, events: Sequence[OutboxEvent]
    ) -> Mapping[int, Collection[Target]]:
        return {e.id: {(e.event_type, str(e.id))} for e in events}

    async def build(
        self, reader: Reader, targets: Collection[Target], version: int
    ) -> list[tuple[uuid.UUID, str, str]]:
        return [(reader.tenant_id, kind, key) for kind, key in sorted(targets)]

    async def apply(
        self, changes: Sequence[tuple[uuid.UUID, str, str]], checkpoint: Checkpoint | None
    ) -> int:
        if self.down:
            self.failures += 1
            raise ConnectionError("the recorder's store is down")
        self.seen += changes
        if checkpoint is not None:
            async with self.database.unit_of_work() as uow:
                await save_checkpoint(uow.connection, checkpoint)
                await uow.commit()
        return len(changes)


async def _until(condition: Callable[[], Awaitable[bool]], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.05)


def _lag(name: str) -> float | None:
    return REGISTRY.get_sample_value("polyshop_sync_lag_seconds", {"projector": name})


async def test_two_projectors_keep_their_own_checkpoints_and_a_failing_one_holds_back_nobody(
    app: bootstrap.Container,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    # As the relay's role, like the relays bootstrap builds.
    recorder = RecordingProjector(app.relay_database, f"recorder-{suffix}")
    documents = Relay(
        app.relay_database,
        DocumentProjector(app.relay_database, app.documents, name=f"docs-{suffix}"),
    )
    recording = Relay(app.relay_database, recorder)
    relays = Relays([documents, recording])
    await rebuild(documents, tenants=[])
    await start_at_head(recording)

    recorder.down = True
    shop = await make_shop(app)
    t = shop.tenant_id
    stop = asyncio.Event()
    worker = asyncio.create_task(relays.run(bootstrap.relay_url(app.urls), stop, poll_seconds=0.1))
    try:
        placed = await app.checkout.place_order(t, shop.request(shop.line("headphones", 2)))
        # The documents projector catches up although the recorder keeps failing.
        await _until(lambda: _caught_up(documents), "the documents projector caught up")
        order = await app.documents.get(t, "orders", str(placed.id))
        assert order is not None
        assert order["orderNumber"] == placed.order_number
        assert recorder.failures >= 1
        assert recorder.seen == []
        assert (await recording.pending())[0] > 0
        behind, ahead = await recording.checkpoint(), await documents.checkpoint()
        assert (behind.transaction_id, behind.event_id) < (ahead.transaction_id, ahead.event_id)
        assert _lag(documents.name) is not None
        assert _lag(recording.name) is None  # it has applied nothing: no lag measured yet

        recorder.down = False  # the store is back: the same relay task catches up
        await _until(lambda: _caught_up(recording), "the recorder caught up")
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)
    assert app.urls.postgres_admin is not None
    # Read as the owner: neither the application nor the relay may read the outbox table.
    async with await psycopg.AsyncConnection.connect(app.urls.postgres_admin) as admin:
        cursor = await admin.execute(
            "SELECT id, event_type FROM outbox WHERE tenant_id = %s ORDER BY id", (t,)
        )
        written = {(str(event_id), kind) for event_id, kind in await cursor.fetchall()}
    recorded = {(key, kind) for tenant, kind, key in recorder.seen if tenant == t}
    assert recorded == written  # every event of the shop, none of another tenant's as its own
    assert "order.placed" in {kind for _, kind in written}
    assert _lag(recording.name) is not None


async def _caught_up(relay: Relay) -> bool:
    return (await relay.pending())[0] == 0
