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
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy

from polyshop.adapters.cassandra import CassandraAnalyticsStore, upgrade_schema
from polyshop.domain.analytics import AnalyticsEvent, EventType, Funnel
from polyshop.domain.errors import StoreUnavailableError
from tests.support.cassandra import LoopbackCluster, ring_view

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


def node_schema(cluster: LoopbackCluster, address: str) -> tuple[dict[str, str], set[str]]:
    """The keyspace's replication and tables as one node has them (its own schema tables)."""
    only = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]))
    client = Cluster([address], port=cluster.nodes[0].native_port, protocol_version=5,
                     execution_profiles={EXEC_PROFILE_DEFAULT: only})  # fmt: skip
    try:
        session = client.connect()
        row = session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (KEYSPACE,),
        ).one()
        tables = session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (KEYSPACE,)
        )
        return (dict(row.replication) if row else {}), {t.table_name for t in tables}
    finally:
        client.shutdown()


async def test_the_cluster_is_whole_and_the_upgrade_reaches_every_node(
    cluster: LoopbackCluster,
) -> None:
    """Right after start (the moment a keyspace used to be created on two of three nodes, and
    an ALTER coordinated by a node that had not seen it yet failed): every node sees every node
    Up and Normal, and when `upgrade_schema` returns, every node has the keyspace with three
    replicas and every table."""
    for node in cluster.nodes:
        out, _ = await asyncio.to_thread(node.nodetool("status").communicate)
        assert ring_view(out) == {n.address: "UN" for n in cluster.nodes}, (node.name, out)
    applied = await asyncio.to_thread(
        upgrade_schema, cluster.hosts, KEYSPACE, "NetworkTopologyStrategy:datacenter1=3",
        consistency="QUORUM",
    )  # fmt: skip
    assert applied == ["0001_analytics", "0002_rollups"]
    for node in cluster.nodes:
        replication, tables = await asyncio.to_thread(node_schema, cluster, node.address)
        assert replication.get("datacenter1") == "3", (node.name, replication)
        assert tables == {"schema_migrations", "user_analytics", "product_analytics",
                          "category_analytics", "order_analytics", "product_hourly_rollup",
                          "top_products_daily"}, node.name  # fmt: skip


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
