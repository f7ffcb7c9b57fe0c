"""The scale-out path on a real three-node Cassandra cluster (127.0.0.1, .2, .3): replication
factor 3 through NetworkTopologyStrategy, writes and reads at QUORUM; one node is killed (-9)
in the middle of an ingest run, ingest and queries keep working, and once it is back a read at
ALL finds every event: nothing lost, nothing counted twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from polyshop.adapters.cassandra import CassandraAnalyticsStore, upgrade_schema
from polyshop.domain.analytics import AnalyticsEvent, EventType, Funnel
from polyshop.domain.errors import StoreUnavailableError
from tests.support.cassandra import LoopbackCluster

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

KEYSPACE = "polyshop_cluster"
TENANT = UUID("00000000-0000-4000-8000-00000000c1a5")
PRODUCTS = [uuid4() for _ in range(5)]
CATEGORY = uuid4()
DAY = (datetime.now(UTC) - timedelta(days=1)).date()
BATCHES, PER_BATCH = 60, 100


@pytest.fixture(scope="module")
def cluster() -> Iterator[LoopbackCluster]:
    nodes = LoopbackCluster(3)
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


def batch(n: int) -> list[AnalyticsEvent]:
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC) + timedelta(minutes=n)
    events = []
    for i in range(PER_BATCH):
        product = PRODUCTS[i % len(PRODUCTS)]
        kind = EventType.PURCHASE if i % 10 == 0 else EventType.VIEW
        events.append(AnalyticsEvent(
            tenant_id=TENANT, event_id=uuid4(), type=kind,
            occurred_at=start + timedelta(milliseconds=i), cart_token=f"visitor-{n}",
            product_id=product, category_id=CATEGORY,
            amount=Decimal("12.50") if kind == EventType.PURCHASE else None,
            quantity=1 if kind == EventType.PURCHASE else None,
        ))  # fmt: skip
    return events


async def record_with_retries(store: CassandraAnalyticsStore, events: list[AnalyticsEvent]) -> int:
    """What the projector does: a failed batch is tried again (the writes are idempotent)."""
    for attempt in range(10):
        try:
            await store.record(events)
        except StoreUnavailableError:
            await asyncio.sleep(0.5)
        else:
            return attempt
    raise AssertionError("a batch never went through with two of three nodes up")


async def test_a_node_killed_during_ingest_loses_nothing(cluster: LoopbackCluster) -> None:
    replication = "NetworkTopologyStrategy:datacenter1=3"
    await asyncio.to_thread(upgrade_schema, cluster.hosts, KEYSPACE, replication,
                            consistency="QUORUM")  # fmt: skip
    quorum = CassandraAnalyticsStore(cluster.hosts, KEYSPACE, consistency="QUORUM")
    everyone = CassandraAnalyticsStore(cluster.hosts, KEYSPACE, consistency="ALL")
    victim = cluster.nodes[2]
    retries = 0
    try:
        for n in range(BATCHES):
            if n == BATCHES // 3:
                victim.stop(kill=True)
                assert not victim.running
            retries += await record_with_retries(quorum, batch(n))
            if n == BATCHES // 2:
                # Queries keep answering at QUORUM with a node down.
                funnel = await quorum.funnel(TENANT, DAY, category_id=CATEGORY)
                assert funnel.views == (n + 1) * 90
        # While the node is down, ALL cannot be met: the failure is a typed error, not a hang.
        with pytest.raises(StoreUnavailableError):
            await everyone.funnel(TENANT, DAY, category_id=CATEGORY)

        expected = Funnel(BATCHES * 90, 0, BATCHES * 10, Decimal("12.50") * BATCHES * 10)
        assert await quorum.funnel(TENANT, DAY, category_id=CATEGORY) == expected

        victim.start(bootstrap=False)
        await asyncio.to_thread(victim.wait_ready)
        # Hints and read repair bring it up to date; ALL needs every replica to answer.
        deadline = asyncio.get_running_loop().time() + 90
        while True:
            try:
                found = await everyone.funnel(TENANT, DAY, category_id=CATEGORY)
                break
            except StoreUnavailableError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(1)
        assert found == expected
        await quorum.flush()  # the product rollups: every batch's keys recounted once
        per_product = [await everyone.funnel(TENANT, DAY, product_id=p) for p in PRODUCTS]
        assert sum(f.views for f in per_product) == BATCHES * 90
        assert sum(f.purchases for f in per_product) == BATCHES * 10
        timeline = await everyone.user_timeline(TENANT, "cart:visitor-0", DAY)
        assert len(timeline) == PER_BATCH
        print(f"cluster ingest: {BATCHES * PER_BATCH} events, {retries} batch retries")
    finally:
        await quorum.close()
        await everyone.close()
