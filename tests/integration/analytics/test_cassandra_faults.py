"""Faults on the way to Cassandra: the analytics projector is killed and Cassandra is stopped
(-9) while thousands of orders are placed. No checkout fails or waits for it; the events wait
in the outbox, arrive once both are back, and `sync verify analytics` finds no drift: nothing
lost, nothing counted twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from polyshop import bootstrap
from polyshop.adapters.cassandra import upgrade_schema
from polyshop.domain.analytics import AnalyticsEvent, EventType
from polyshop.sync.maintenance import start_at_head, verify
from tests.conftest import test_settings as settings_for_tests
from tests.support.cassandra import SingleNode
from tests.support.shops import make_shop

pytestmark = pytest.mark.slow

ORDERS, BUYERS = 2000, 16


@pytest.fixture(scope="module")
def node() -> Iterator[SingleNode]:
    """A node of its own: this test stops it, which the session's node must not suffer."""
    server = SingleNode(heap="512m")
    try:
        server.start()
        yield server
    finally:
        server.stop()


async def test_orders_go_on_and_nothing_is_lost_when_cassandra_and_the_projector_die(
    node: SingleNode, urls: bootstrap.StoreUrls
) -> None:
    keyspace = "polyshop_faults"
    await asyncio.to_thread(upgrade_schema, node.hosts, keyspace, "SimpleStrategy:1")
    settings = settings_for_tests(cassandra_hosts=node.hosts, cassandra_keyspace=keyspace,
                             cassandra_timeout_seconds=2)  # fmt: skip
    async with bootstrap.application(settings, urls) as app:
        relay = app.relays["analytics"]
        await start_at_head(relay)
        shop = await make_shop(app, stock=ORDERS + 100)
        # Days are UTC: a run that crosses midnight has events on two of them.
        first_day = datetime.now(UTC).date()
        t, speaker = shop.tenant_id, shop.products["speaker"]
        stop = asyncio.Event()

        def start_projector() -> asyncio.Task[None]:
            return asyncio.create_task(relay.run(urls.postgres, stop, poll_seconds=0.2))

        projector = start_projector()
        placed = 0
        quarter, three_quarters = asyncio.Event(), asyncio.Event()
        slowest = 0.0
        views = 0

        async def buyer(n: int) -> None:
            nonlocal placed, slowest, views
            for i in range(ORDERS // BUYERS):
                started = time.perf_counter()
                await app.checkout.place_order(t, shop.request(shop.line("speaker")))
                slowest = max(slowest, time.perf_counter() - started)
                placed += 1
                if placed >= ORDERS // 4:
                    quarter.set()
                if placed >= ORDERS * 3 // 4:
                    three_quarters.set()
                if i % 10 == 0:
                    batch = [AnalyticsEvent(t, uuid4(), EventType.VIEW, datetime.now(UTC),
                                            cart_token=f"buyer-{n}", product_id=speaker,
                                            category_id=shop.category) for _ in range(5)]  # fmt: skip
                    await app.analytics.record_storefront(t, batch)
                    views += 5

        async def faults() -> None:
            nonlocal projector
            await quarter.wait()
            projector.cancel()  # the projector dies mid-batch...
            await asyncio.gather(projector, return_exceptions=True)
            node.node.stop(kill=True)  # ...and so does Cassandra
            projector = start_projector()  # a new projector finds Cassandra gone and retries
            await three_quarters.wait()
            await asyncio.to_thread(node.node.start)
            await asyncio.to_thread(node.node.wait_ready)

        await asyncio.gather(faults(), *(buyer(n) for n in range(BUYERS)))
        assert placed == ORDERS
        # Checkouts never waited for Cassandra (a stalled one would wait for its timeouts).
        assert slowest < 5.0, slowest

        deadline = time.monotonic() + 120
        while (await relay.pending())[0] > 0:
            assert time.monotonic() < deadline, "the projector did not catch up"
            await asyncio.sleep(0.5)
        stop.set()
        await projector

        # The stored events and every rollup first, against the outbox: if the funnel below
        # were short, this says whether events are missing or only the rollups lag them.
        drift = await verify(relay, tenants=[t])
        assert drift.clean, (drift.missing[:3], drift.extra[:3], drift.different[:3])
        # Per order: its reservation (a status event) and its purchase (one line); and the views.
        assert drift.checked == ORDERS * 2 + views
        days = range(first_day.toordinal(), datetime.now(UTC).date().toordinal() + 1)
        funnels = [await app.analytics.funnel(t, date.fromordinal(d), product_id=speaker)
                   for d in days]  # fmt: skip
        assert (sum(f.purchases for f in funnels), sum(f.views for f in funnels)) == (ORDERS, views)
