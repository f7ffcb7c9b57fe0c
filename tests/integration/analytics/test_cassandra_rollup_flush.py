"""The Cassandra rollups are refreshed off the ingest path: the projector writes the events of a
batch and flushes the rollups later (every few seconds, or when the relay is idle). A process
that dies between the two loses its list of keys to refresh; the next one must find out from
PostgreSQL and refresh them, or those rollups would stay stale for ever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import psycopg
import pytest
from cassandra.cluster import Session

from polyshop import bootstrap
from polyshop.adapters.cassandra import CassandraAnalyticsStore
from polyshop.adapters.postgres import UnitOfWork
from polyshop.domain.analytics import AnalyticsEvent, EventType, ProductRank
from polyshop.sync import AnalyticsProjector, Relay
from polyshop.sync.maintenance import start_at_head
from tests.support.shops import make_shop


async def test_a_projector_that_dies_before_its_flush_leaves_no_rollup_stale(
    app: bootstrap.Container, cassandra: str, cassandra_keyspace: str
) -> None:
    name = f"analytics_{uuid4().hex[:8]}"  # a checkpoint of its own

    def relay_of(store: CassandraAnalyticsStore, flush_seconds: float = 3600) -> Relay:
        projector = AnalyticsProjector(
            app.relay_database, store, name=name, flush_seconds=flush_seconds
        )
        return Relay(app.relay_database, projector, batch_size=2)

    first_store = CassandraAnalyticsStore(cassandra, cassandra_keyspace)
    reader = CassandraAnalyticsStore(cassandra, cassandra_keyspace)
    first = relay_of(first_store)
    await start_at_head(first)
    shop = await make_shop(app, stock=10)
    t, product = shop.tenant_id, shop.products["headphones"]
    # One hour of one day, in the past.
    now = (datetime.now(UTC) - timedelta(minutes=1)).replace(minute=0, second=1, microsecond=0)
    views = [
        AnalyticsEvent(t, uuid4(), EventType.VIEW, now + timedelta(milliseconds=n),
                       cart_token=f"c{n}", product_id=product, category_id=shop.category)
        for n in range(30)
    ]  # fmt: skip
    for start in range(0, 30, 5):
        await app.analytics.record_storefront(t, views[start : start + 5])
    try:
        # Every batch applied and checkpointed, none flushed (the interval is an hour).
        while await first.step():
            pass
        assert first_store.stale()
        assert len(await reader.user_timeline(t, "cart:c7", now.date())) == 1
        assert await reader.product_hourly(t, product, now.date()) == []
    finally:
        await first_store.close()  # the process dies, and its keys to refresh with it

    second_store = CassandraAnalyticsStore(cassandra, cassandra_keyspace)
    second = relay_of(second_store)
    try:
        assert await second.run_until_idle() == 0  # nothing new in the outbox...
        # ...but the batches the first one never flushed were recounted.
        assert [
            (h.hour, h.events) for h in await reader.product_hourly(t, product, now.date())
        ] == [(now.hour, 30)]
        assert await reader.top_products(t, now.date()) == [ProductRank(product, 30, 0, Decimal(0))]
        assert not second_store.stale()
        # Everything flushed is marked so: a third start has nothing to recount.
        async with app.relay_database.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT event_id FROM sync_checkpoints WHERE projector = %s", (f"{name}:rollups",)
            )
            assert await cursor.fetchone() == (-1,)

        # With a zero interval the projector flushes after every batch, relay idle or not.
        more = [
            AnalyticsEvent(t, uuid4(), EventType.VIEW, now + timedelta(milliseconds=100 + n),
                           cart_token=f"d{n}", product_id=product)
            for n in range(4)
        ]  # fmt: skip
        await app.analytics.record_storefront(t, more)
        eager = relay_of(second_store, flush_seconds=0)
        assert await eager.step() == 1
        assert not second_store.stale()
        assert (await reader.funnel(t, now.date(), product_id=product)).views == 34
    finally:
        await second_store.close()
        await reader.close()


async def test_a_commit_that_landed_but_failed_does_not_move_the_rollups_marker(
    app: bootstrap.Container, cassandra: str, cassandra_keyspace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The checkpoint of a first unflushed batch commits with the rollups marker, then the
    connection is lost before the reply: the projector cannot know the marker is there. The
    next batch must not move it past the first one, or a crash that follows recovers only the
    second batch's keys and the first one's rollups stay stale for ever."""
    name = f"analytics_{uuid4().hex[:8]}"

    def relay_of(store: CassandraAnalyticsStore) -> Relay:
        projector = AnalyticsProjector(app.relay_database, store, name=name, flush_seconds=3600)
        return Relay(app.relay_database, projector, batch_size=1)

    first_store = CassandraAnalyticsStore(cassandra, cassandra_keyspace)
    reader = CassandraAnalyticsStore(cassandra, cassandra_keyspace)
    first = relay_of(first_store)
    shop = await make_shop(app, stock=10)
    await start_at_head(first)  # after the shop's own events: the next two batches are the views
    t, headphones, speaker = shop.tenant_id, shop.products["headphones"], shop.products["speaker"]
    now = (datetime.now(UTC) - timedelta(minutes=1)).replace(minute=0, second=1, microsecond=0)
    for n, product in enumerate((headphones, speaker)):  # one outbox row (one batch) each
        await app.analytics.record_storefront(t, [
            AnalyticsEvent(t, uuid4(), EventType.VIEW, now + timedelta(milliseconds=10 * n + i),
                           cart_token=f"m{n}-{i}", product_id=product)
            for i in range(3)
        ])  # fmt: skip
    commit = UnitOfWork.commit

    async def landed_but_lost(self: UnitOfWork) -> None:
        await commit(self)
        raise psycopg.OperationalError("the connection was lost after COMMIT")

    try:
        monkeypatch.setattr(UnitOfWork, "commit", landed_but_lost)
        with pytest.raises(psycopg.OperationalError):
            await first.step()  # the headphones' batch: applied, checkpointed, marker written
        monkeypatch.undo()
        assert await first.step() == 1  # the speaker's batch
        assert await first.step() == 0
        assert first_store.stale()  # nothing flushed (the interval is an hour)
    finally:
        await first_store.close()  # the process dies with its keys to refresh

    second_store = CassandraAnalyticsStore(cassandra, cassandra_keyspace)
    try:
        assert await relay_of(second_store).run_until_idle() == 0
        for product in (headphones, speaker):
            hours = await reader.product_hourly(t, product, now.date())
            assert [(h.hour, h.events) for h in hours] == [(now.hour, 3)], product
    finally:
        await second_store.close()
        await reader.close()


async def test_a_flush_costs_requests_per_group_of_keys_not_per_key(
    app: bootstrap.Container, cassandra: str, cassandra_keyspace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A flush of 600 product-hours (300 products, two hours each, one shop-day) asks Cassandra
    in groups: the recounts name up to 32 products each, the rollup rows go in batches, the
    products' days are read 32 at a time. It used to send three requests per product-hour
    (1,800 here), which bounded the projector at about 200 events/s on bench.analytics."""
    tenant = (await app.tenants.create(f"fl-{uuid4().hex[:10]}", "Flush")).id
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    products = [uuid4() for _ in range(300)]
    events = [
        AnalyticsEvent(tenant, uuid4(), EventType.VIEW,
                       datetime(day.year, day.month, day.day, hour, n % 60, tzinfo=UTC),
                       cart_token=f"c{n}", product_id=product)
        for n, product in enumerate(products) for hour in (8, 17)
    ]  # fmt: skip
    store = CassandraAnalyticsStore(cassandra, cassandra_keyspace)
    try:
        await store.record(events)
        sent: list[object] = []
        execute_async = Session.execute_async

        def counted(self: Session, query: object, *args: object, **kwargs: object) -> object:
            sent.append(query)
            return execute_async(self, query, *args, **kwargs)

        monkeypatch.setattr(Session, "execute_async", counted)
        await store.flush()
        monkeypatch.undo()
        # 2 hours x 10 recounts, 1,200 rollup rows in batches of 30, 10 reads of the days,
        # one read and one compare-and-set of the day's candidates.
        assert 20 + 10 + 2 <= len(sent) <= 100
        assert [(h.hour, h.events) for h in await store.product_hourly(tenant, products[7], day)] == [
            (8, 1), (17, 1),
        ]  # fmt: skip
        assert len(await store.top_products(tenant, day, limit=100)) == 100
    finally:
        await store.close()
