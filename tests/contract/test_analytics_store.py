"""One contract for every AnalyticsStore adapter: the same events give the same answers on the
PostgreSQL twin and on a real Cassandra 5.0 node."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from polyshop import bootstrap
from polyshop.adapters.cassandra import CassandraAnalyticsStore
from polyshop.adapters.postgres import PostgresAnalyticsStore
from polyshop.domain.analytics import (
    BUCKETS,
    AnalyticsEvent,
    EventType,
    Funnel,
    HourlyCount,
    ProductRank,
    bucket_of,
    rank_products,
)
from polyshop.ports import AnalyticsStore

ADAPTERS = ["postgres", "cassandra"]
Factory = Callable[[timedelta], AnalyticsStore]


@pytest.fixture(params=ADAPTERS)
async def make_store(
    request: pytest.FixtureRequest, app: bootstrap.Container
) -> AsyncIterator[Factory]:
    made: list[AnalyticsStore] = []

    def make(retention: timedelta = timedelta(days=30)) -> AnalyticsStore:
        store: AnalyticsStore
        if request.param == "postgres":
            store = PostgresAnalyticsStore(app.relay_database, retention=retention)
        else:
            hosts = request.getfixturevalue("cassandra")
            keyspace = request.getfixturevalue("cassandra_keyspace")
            store = CassandraAnalyticsStore(hosts, keyspace, retention=retention)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


@pytest.fixture
def store(make_store: Factory) -> AnalyticsStore:
    return make_store(timedelta(days=30))


@pytest.fixture
async def tenants(app: bootstrap.Container) -> tuple[UUID, UUID]:
    first = await app.tenants.create(f"an-{uuid4().hex[:10]}", "Analytics A")
    second = await app.tenants.create(f"an-{uuid4().hex[:10]}", "Analytics B")
    return first.id, second.id


# A day in the recent past, so retention keeps it and the clock never makes it "future".
DAY = (datetime.now(UTC) - timedelta(days=2)).date()


def at(hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, second, micro, tzinfo=UTC)


def event(tenant: UUID, kind: EventType, when: datetime, **fields: object) -> AnalyticsEvent:
    return AnalyticsEvent(tenant_id=tenant, event_id=uuid4(), type=kind, occurred_at=when, **fields)  # type: ignore[arg-type]


class Shop:
    """Ids shared by both tenants on purpose: isolation must come from the tenant key."""

    customer = UUID("00000000-0000-4000-8000-0000000000c1")
    product = UUID("00000000-0000-4000-8000-0000000000a1")
    other_product = UUID("00000000-0000-4000-8000-0000000000a2")
    category = UUID("00000000-0000-4000-8000-0000000000b1")
    order = UUID("00000000-0000-4000-8000-0000000000d1")


def a_day_of_shopping(tenant: UUID) -> list[AnalyticsEvent]:
    s = Shop
    common = {"category_id": s.category}
    return [
        event(tenant, EventType.SEARCH, at(9, 0), customer_id=s.customer, query="headphones"),
        event(tenant, EventType.VIEW, at(9, 1), customer_id=s.customer, product_id=s.product, **common),
        event(tenant, EventType.VIEW, at(9, 2), cart_token="anon-1", product_id=s.product, **common),
        event(tenant, EventType.VIEW, at(10, 5), cart_token="anon-1", product_id=s.other_product, **common),
        event(tenant, EventType.VIEW, at(10, 6), cart_token="anon-2", product_id=s.other_product, **common),
        event(tenant, EventType.VIEW, at(10, 7), cart_token="anon-3", product_id=s.other_product, **common),
        event(tenant, EventType.ADD_TO_CART, at(9, 3), customer_id=s.customer, product_id=s.product, quantity=2, **common),
        event(tenant, EventType.REMOVE_FROM_CART, at(9, 4), customer_id=s.customer, product_id=s.product, quantity=1, **common),
        event(tenant, EventType.CHECKOUT_STARTED, at(9, 5), customer_id=s.customer),
        event(tenant, EventType.PURCHASE, at(9, 6), customer_id=s.customer, product_id=s.product, order_id=s.order, quantity=1, amount=Decimal("199.99"), **common),
        event(tenant, EventType.ORDER_STATUS, at(11, 0), customer_id=s.customer, order_id=s.order, detail="confirmed->shipped"),
        event(tenant, EventType.REFUND, at(12, 0), customer_id=s.customer, order_id=s.order, amount=Decimal("50.00"), detail="partially_refunded"),
    ]  # fmt: skip


async def test_the_queries_answer_from_the_events(
    store: AnalyticsStore, tenants: tuple[UUID, UUID]
) -> None:
    tenant, _ = tenants
    events = a_day_of_shopping(tenant)
    await store.record(events)
    await store.flush()
    assert not store.stale()
    s = Shop

    timeline = await store.user_timeline(tenant, f"customer:{s.customer}", DAY)
    mine = sorted((e for e in events if e.customer_id == s.customer), key=lambda e: e.occurred_at)
    assert timeline == mine
    assert [e.type for e in await store.user_timeline(tenant, "cart:anon-1", DAY)] == [
        EventType.VIEW, EventType.VIEW,
    ]  # fmt: skip
    assert await store.user_timeline(tenant, "cart:anon-1", DAY + timedelta(days=1)) == []

    assert await store.product_hourly(tenant, s.product, DAY) == [
        HourlyCount(9, EventType.ADD_TO_CART, 1),
        HourlyCount(9, EventType.PURCHASE, 1),
        HourlyCount(9, EventType.REMOVE_FROM_CART, 1),
        HourlyCount(9, EventType.VIEW, 2),
    ]
    assert await store.funnel(tenant, DAY, product_id=s.product) == Funnel(
        2, 1, 1, Decimal("199.99")
    )
    assert await store.funnel(tenant, DAY, category_id=s.category) == Funnel(
        5, 1, 1, Decimal("199.99")
    )
    assert await store.top_products(tenant, DAY, by="views") == [
        ProductRank(s.other_product, 3, 0, Decimal(0)),
        ProductRank(s.product, 2, 1, Decimal("199.99")),
    ]
    assert await store.top_products(tenant, DAY, by="revenue", limit=1) == [
        ProductRank(s.product, 2, 1, Decimal("199.99")),
    ]
    history = await store.order_history(tenant, s.order)
    assert [(e.type, e.amount, e.detail) for e in history] == [
        (EventType.PURCHASE, Decimal("199.99"), None),
        (EventType.ORDER_STATUS, None, "confirmed->shipped"),
        (EventType.REFUND, Decimal("50.00"), "partially_refunded"),
    ]


async def test_money_stays_decimal(store: AnalyticsStore, tenants: tuple[UUID, UUID]) -> None:
    tenant, _ = tenants
    prices = [Decimal("0.10"), Decimal("0.20"), Decimal("1234567.89")]
    await store.record([
        event(tenant, EventType.PURCHASE, at(8, i), customer_id=Shop.customer,
              product_id=Shop.product, order_id=Shop.order, quantity=1, amount=price)
        for i, price in enumerate(prices)
    ])  # fmt: skip
    await store.flush()
    funnel = await store.funnel(tenant, DAY, product_id=Shop.product)
    assert isinstance(funnel.revenue, Decimal)
    assert funnel.revenue == Decimal("1234568.19")  # a float sum would give ...18999999
    amounts = [e.amount for e in await store.order_history(tenant, Shop.order)]
    assert amounts == prices
    assert all(isinstance(a, Decimal) for a in amounts)


async def test_a_replayed_event_is_counted_once(
    store: AnalyticsStore, tenants: tuple[UUID, UUID]
) -> None:
    tenant, _ = tenants
    events = a_day_of_shopping(tenant)
    await store.record(events)
    await store.flush()
    await store.record(events)
    await store.record(events[3:6])  # a partial replay, as after a crash mid-batch
    await store.flush()
    assert await store.funnel(tenant, DAY, category_id=Shop.category) == Funnel(
        5, 1, 1, Decimal("199.99")
    )
    # The rollups too: recounted from the events, not added to.
    assert await store.funnel(tenant, DAY, product_id=Shop.product) == Funnel(
        2, 1, 1, Decimal("199.99")
    )
    assert (await store.top_products(tenant, DAY))[0] == ProductRank(
        Shop.other_product, 3, 0, Decimal(0)
    )
    assert len(await store.user_timeline(tenant, f"customer:{Shop.customer}", DAY)) == 8
    assert len(await store.order_history(tenant, Shop.order)) == 3


async def test_events_of_the_same_user_type_and_millisecond_are_all_kept(
    store: AnalyticsStore, tenants: tuple[UUID, UUID]
) -> None:
    tenant, _ = tenants
    same = at(13, 30, 15, 123_000)
    twins = [
        event(tenant, EventType.VIEW, same, customer_id=Shop.customer, product_id=Shop.product)
        for _ in range(5)
    ]
    await store.record(twins)
    await store.flush()
    timeline = await store.user_timeline(tenant, f"customer:{Shop.customer}", DAY)
    assert sorted(e.event_id for e in timeline) == sorted(e.event_id for e in twins)
    assert {e.occurred_at for e in timeline} == {same}
    assert await store.product_hourly(tenant, Shop.product, DAY) == [
        HourlyCount(13, EventType.VIEW, 5)
    ]


async def test_a_hot_product_day_is_counted_across_its_buckets(
    store: AnalyticsStore, tenants: tuple[UUID, UUID]
) -> None:
    tenant, _ = tenants
    views = [
        event(tenant, EventType.VIEW, at(hour % 24, minute, second), cart_token=f"v{hour}",
              product_id=Shop.product, category_id=Shop.category)
        for hour in range(24) for minute in range(0, 60, 6) for second in (1, 2)
    ]  # fmt: skip
    assert {bucket_of(e.event_id) for e in views} == set(range(BUCKETS))
    await store.record(views)
    await store.flush()
    hourly = await store.product_hourly(tenant, Shop.product, DAY)
    assert hourly == [HourlyCount(h, EventType.VIEW, 20) for h in range(24)]
    assert (await store.funnel(tenant, DAY, category_id=Shop.category)).views == 480
    assert await store.top_products(tenant, DAY) == [ProductRank(Shop.product, 480, 0, Decimal(0))]


async def test_two_shops_with_the_same_ids_never_see_each_other(
    store: AnalyticsStore, tenants: tuple[UUID, UUID]
) -> None:
    alpha, beta = tenants
    await store.record(a_day_of_shopping(alpha))
    await store.record(
        [event(beta, EventType.VIEW, at(9, 30), customer_id=Shop.customer, product_id=Shop.product,
               category_id=Shop.category)]
    )  # fmt: skip
    await store.flush()
    assert [
        e.tenant_id for e in await store.user_timeline(beta, f"customer:{Shop.customer}", DAY)
    ] == [beta]
    assert await store.product_hourly(beta, Shop.product, DAY) == [
        HourlyCount(9, EventType.VIEW, 1)
    ]
    assert await store.funnel(beta, DAY, category_id=Shop.category) == Funnel(1, 0, 0, Decimal(0))
    assert await store.top_products(beta, DAY) == [ProductRank(Shop.product, 1, 0, Decimal(0))]
    assert await store.order_history(beta, Shop.order) == []
    # ... and the first shop's answers did not move.
    assert (await store.funnel(alpha, DAY, category_id=Shop.category)).views == 5


async def test_events_expire_after_the_retention(
    make_store: Factory, tenants: tuple[UUID, UUID]
) -> None:
    tenant, _ = tenants
    store = make_store(timedelta(seconds=3))
    now = datetime.now(UTC)
    fresh = [
        event(tenant, EventType.VIEW, now, customer_id=Shop.customer, product_id=Shop.product,
              category_id=Shop.category),
        event(tenant, EventType.PURCHASE, now, customer_id=Shop.customer,
              product_id=Shop.product, order_id=Shop.order, quantity=1, amount=Decimal("5.00")),
    ]  # fmt: skip
    # Older than the retention already: never kept, so a replay of old events resurrects nothing.
    stale = event(tenant, EventType.VIEW, now - timedelta(seconds=10), customer_id=Shop.customer,
                  product_id=Shop.product)  # fmt: skip
    await store.record([*fresh, stale])
    await store.flush()
    today = now.date()
    assert len(await store.user_timeline(tenant, f"customer:{Shop.customer}", today)) == 2
    assert (await store.funnel(tenant, today, product_id=Shop.product)).views == 1
    assert len(await store.order_history(tenant, Shop.order)) == 1
    await asyncio.sleep(3.5)
    assert await store.user_timeline(tenant, f"customer:{Shop.customer}", today) == []
    assert await store.product_hourly(tenant, Shop.product, today) == []
    assert await store.funnel(tenant, today, product_id=Shop.product) == Funnel(0, 0, 0, Decimal(0))
    assert await store.top_products(tenant, today) == []
    assert await store.order_history(tenant, Shop.order) == []


async def test_a_funnel_is_for_a_product_or_a_category(
    store: AnalyticsStore, tenants: tuple[UUID, UUID]
) -> None:
    tenant, _ = tenants
    with pytest.raises(ValueError, match="one product or one category"):
        await store.funnel(tenant, DAY)
    with pytest.raises(ValueError, match="one product or one category"):
        await store.funnel(tenant, DAY, product_id=Shop.product, category_id=Shop.category)


def views_of(tenant: UUID, product: UUID, n: int, hour: int = 10) -> list[AnalyticsEvent]:
    return [
        event(tenant, EventType.VIEW, at(hour, i % 60, i // 60), cart_token=f"v{i}",
              product_id=product)
        for i in range(n)
    ]  # fmt: skip


def bought(tenant: UUID, product: UUID, amount: str, hour: int = 11) -> AnalyticsEvent:
    return event(tenant, EventType.PURCHASE, at(hour), customer_id=Shop.customer,
                 product_id=product, order_id=uuid4(), quantity=1, amount=Decimal(amount))  # fmt: skip


async def test_the_top_products_are_ranked_exactly_as_counts_change(
    store: AnalyticsStore, tenants: tuple[UUID, UUID]
) -> None:
    """120 products with distinct view counts: the top 10 by views and by revenue are exact,
    with ties broken by the other measure and then the id; then a product from the bottom
    rises past all of them in later batches, and one more view moves a product up one place."""
    tenant, _ = tenants
    products = [UUID(int=(7 << 64) + n) for n in range(120)]
    first: list[AnalyticsEvent] = []
    for n, product in enumerate(products):
        first += views_of(tenant, product, 1 + n % 40)  # counts 1..40, three products each
    first += [bought(tenant, products[5], "30.00"), bought(tenant, products[45], "30.00"),
              bought(tenant, products[85], "12.50"), bought(tenant, products[2], "99.99")]  # fmt: skip
    for start in range(0, len(first), 500):
        await store.record(first[start : start + 500])
    await store.flush()  # one refresh for every batch before it

    # 39, 79, 119 have 40 views; 38, 78, 118 have 39; ... ties by revenue (none) then by id.
    top = await store.top_products(tenant, DAY, by="views", limit=4)
    assert [(r.product_id, r.views) for r in top] == [
        (products[39], 40), (products[79], 40), (products[119], 40), (products[38], 39),
    ]  # fmt: skip
    by_revenue = await store.top_products(tenant, DAY, by="revenue", limit=4)
    # 5 and 45 both took 30.00 with 6 views each: the tie goes by the id.
    assert [(r.product_id, r.revenue) for r in by_revenue] == [
        (products[2], Decimal("99.99")), (products[5], Decimal("30.00")),
        (products[45], Decimal("30.00")), (products[85], Decimal("12.50")),
    ]  # fmt: skip

    # Product 0 had one view: far outside the top ten. It rises over two batches.
    await store.record(views_of(tenant, products[0], 25, hour=12))
    await store.flush()
    assert products[0] not in {r.product_id for r in await store.top_products(tenant, DAY)}
    await store.record(views_of(tenant, products[0], 30, hour=13))
    await store.flush()
    top = await store.top_products(tenant, DAY, by="views", limit=3)
    assert [(r.product_id, r.views) for r in top] == [
        (products[0], 56), (products[39], 40), (products[79], 40),
    ]  # fmt: skip
    # One more view for 119 puts it ahead of 39 and 79; a purchase breaks the 79/... tie.
    await store.record(views_of(tenant, products[119], 1, hour=14))
    await store.record([bought(tenant, products[79], "1.00")])
    await store.flush()
    top = await store.top_products(tenant, DAY, by="views", limit=4)
    assert [r.product_id for r in top] == [products[0], products[119], products[79], products[39]]
    assert top[1] == ProductRank(products[119], 41, 0, Decimal(0))
    assert top[2] == ProductRank(products[79], 40, 1, Decimal("1.00"))
    assert await store.top_products(tenant, DAY + timedelta(days=1)) == []


async def test_concurrent_writers_of_the_same_day_lose_nothing(
    make_store: Factory, tenants: tuple[UUID, UUID]
) -> None:
    """Four store clients (as two relays would be) record batches of the same day at once, and
    replay some of them, each flushing after its batches while the others still write: every
    count is exact and the ranking with it."""
    tenant, _ = tenants
    writers = [make_store(timedelta(days=30)) for _ in range(4)]
    products = [UUID(int=(9 << 64) + n) for n in range(30)]
    batches = [
        [event(tenant, EventType.VIEW, at(15, w, i % 60), cart_token=f"w{w}-{i}",
               product_id=products[(i * 7 + w) % 30]) for i in range(150)]
        for w in range(8)
    ]  # fmt: skip
    work = [*batches, *batches[:3]]

    async def write(w: int) -> None:
        await asyncio.gather(*(writers[w].record(batch) for batch in work[w::4]))
        await writers[w].flush()

    await asyncio.gather(*(write(w) for w in range(4)))
    views: dict[UUID, int] = {}
    for batch in batches:
        for e in batch:
            assert e.product_id is not None
            views[e.product_id] = views.get(e.product_id, 0) + 1
    wanted = rank_products(
        {p: ProductRank(p, n, 0, Decimal(0)) for p, n in views.items()}, "views", 30
    )
    reader = writers[0]
    assert await reader.top_products(tenant, DAY, limit=30) == wanted
    for product in products[:5]:
        assert await reader.product_hourly(tenant, product, DAY) == [
            HourlyCount(15, EventType.VIEW, views[product])
        ]


def day_totals(
    product: UUID, counts: dict[tuple[int, EventType], int], revenue: Decimal
) -> ProductRank:
    views = sum(n for (_, kind), n in counts.items() if kind == EventType.VIEW)
    purchases = sum(n for (_, kind), n in counts.items() if kind == EventType.PURCHASE)
    return ProductRank(product, views, purchases, revenue)


async def test_one_flush_of_many_products_hours_and_shops_is_exact(
    store: AnalyticsStore, tenants: tuple[UUID, UUID]
) -> None:
    """One flush over more products than one read names (Cassandra recounts and reads them in
    groups), in several hours of two days, for two shops with the same product ids, with a
    batch replayed: every product's hours and both days' top products are those the
    events give, shop by shop."""
    first, second = tenants
    products = [UUID(int=(11 << 64) + n) for n in range(90)]
    wanted: dict[tuple[UUID, date, UUID], dict[tuple[int, EventType], int]] = {}
    revenue: dict[tuple[UUID, date, UUID], Decimal] = {}
    batches: list[list[AnalyticsEvent]] = []
    for shop, shift in ((first, 0), (second, 1)):
        batch = []
        for n, product in enumerate(products):
            for day in (DAY, DAY - timedelta(days=1)):
                hours = [(n + shift) % 24, (n * 7 + shift) % 24]
                for i, hour in enumerate(hours):
                    when = datetime(day.year, day.month, day.day, hour, i, n % 60, tzinfo=UTC)
                    kind = EventType.PURCHASE if (n + i + shift) % 5 == 0 else EventType.VIEW
                    extra: dict[str, object] = {}
                    if kind == EventType.PURCHASE:
                        extra = {"order_id": uuid4(), "quantity": 1,
                                 "amount": Decimal(n + shift) + Decimal("0.25")}  # fmt: skip
                    batch.append(event(shop, kind, when, cart_token=f"c{n}", product_id=product,
                                       **extra))  # type: ignore[arg-type]  # fmt: skip
                    counts = wanted.setdefault((shop, day, product), {})
                    counts[(hour, kind)] = counts.get((hour, kind), 0) + 1
                    if kind == EventType.PURCHASE:
                        key = (shop, day, product)
                        revenue[key] = revenue.get(key, Decimal(0)) + extra["amount"]  # type: ignore[operator]
        batches.append(batch)
    for batch in (*batches, batches[0][:50]):  # the replay counts nothing twice
        await store.record(batch)
    await store.flush()

    for shop in (first, second):
        for day in (DAY, DAY - timedelta(days=1)):
            for product in products:
                counts = wanted[(shop, day, product)]
                assert await store.product_hourly(shop, product, day) == [
                    HourlyCount(h, k, n) for (h, k), n in sorted(counts.items())
                ]
            totals = {
                p: day_totals(p, wanted[(shop, day, p)], revenue.get((shop, day, p), Decimal(0)))
                for p in products
            }
            for by in ("views", "revenue"):
                assert await store.top_products(shop, day, by=by, limit=100) == rank_products(
                    totals, by, 100
                )
