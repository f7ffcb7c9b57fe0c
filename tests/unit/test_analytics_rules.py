"""Pure rules of analytics: event keys, timeuuids, buckets, ranking, the storefront batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyshop.adapters.cassandra import event_time, time_of
from polyshop.domain.analytics import (
    BUCKETS,
    AnalyticsEvent,
    EventType,
    ProductRank,
    StorefrontBatch,
    bucket_of,
    derived_event_id,
    rank_products,
    split_user_key,
    storefront_event,
    user_key,
    validate_batch,
)
from polyshop.domain.errors import ValidationError

T = UUID("00000000-0000-4000-8000-000000000001")


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC)), st.uuids())  # fmt: skip
def test_the_timeuuid_carries_the_exact_time_and_depends_on_the_event(
    when: datetime, event_id: UUID
) -> None:
    event = AnalyticsEvent(T, event_id, EventType.VIEW, when)
    stamp = event_time(event)
    assert stamp.version == 1
    assert time_of(stamp) == when
    assert event_time(event) == stamp  # the same event, the same row
    other = AnalyticsEvent(T, uuid4(), EventType.VIEW, when)
    assert event_time(other) != stamp  # another event of the same instant, another row


def test_buckets_are_stable_and_spread() -> None:
    ids = [uuid4() for _ in range(2000)]
    assert [bucket_of(i) for i in ids] == [bucket_of(i) for i in ids]
    counts = [sum(1 for i in ids if bucket_of(i) == b) for b in range(BUCKETS)]
    assert min(counts) > 2000 / BUCKETS * 0.7


def test_derived_ids_are_deterministic_and_distinct() -> None:
    assert derived_event_id(7, "item:a") == derived_event_id(7, "item:a")
    assert len({derived_event_id(7, "item:a"), derived_event_id(7, "item:b"),
                derived_event_id(8, "item:a")}) == 3  # fmt: skip


def test_user_keys_round_trip() -> None:
    customer = uuid4()
    assert split_user_key(user_key(customer, "cart")) == (customer, None)
    assert split_user_key(user_key(None, "tok:en")) == (None, "tok:en")
    assert user_key(None, None) is None


def test_ranking_breaks_ties_the_same_way_everywhere() -> None:
    a, b, c = (UUID(int=n) for n in (1, 2, 3))
    totals = {p: ProductRank(p, views, 0, Decimal(rev))
              for p, views, rev in ((a, 5, "1"), (b, 5, "2"), (c, 9, "0"))}  # fmt: skip
    assert [r.product_id for r in rank_products(totals, "views", 10)] == [c, b, a]
    assert [r.product_id for r in rank_products(totals, "revenue", 2)] == [b, a]


def test_a_batch_is_refused_whole_naming_the_first_bad_field() -> None:
    now = datetime.now(UTC)
    good = AnalyticsEvent(T, uuid4(), EventType.VIEW, now, cart_token="c", product_id=uuid4())
    late = AnalyticsEvent(T, uuid4(), EventType.VIEW, now + timedelta(minutes=6),
                          cart_token="c", product_id=uuid4())  # fmt: skip
    with pytest.raises(ValidationError) as caught:
        validate_batch(T, [good, late], max_events=10, now=now)
    assert caught.value.field == "events[1].occurred_at"
    purchase = AnalyticsEvent(T, uuid4(), EventType.PURCHASE, now, cart_token="c")
    with pytest.raises(ValidationError) as caught:
        validate_batch(T, [purchase], max_events=10, now=now)
    assert caught.value.field == "events[0].type"  # purchases come from orders, not storefronts
    with pytest.raises(ValidationError) as caught:
        validate_batch(T, [], max_events=10, now=now)
    assert caught.value.field == "events"
    assert validate_batch(T, [good], max_events=1, now=now).events == [good]


def test_a_batch_payload_reads_back_as_the_same_events() -> None:
    """The outbox payload (`payload_event`, which the seed generator also writes) is the shared
    contract: what the projectors read back from it must be the events that were sent."""
    now = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
    events = [
        AnalyticsEvent(T, uuid4(), EventType.ADD_TO_CART, now, customer_id=uuid4(),
                       cart_token="c-1", session_id="s-1", product_id=uuid4(),
                       category_id=uuid4(), quantity=2),
        AnalyticsEvent(T, uuid4(), EventType.SEARCH, now, session_id="s-1", query="gift"),
    ]  # fmt: skip
    payload = StorefrontBatch(events).payload()
    assert [storefront_event(T, raw) for raw in payload["events"]] == events
    assert payload["events"][1]["type"] == "search" and payload["events"][1]["product_id"] is None
