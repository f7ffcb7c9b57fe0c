"""A version-1 (time) UUID derived from an event: its time is the event's time to the 100 ns,
its clock sequence and node come from the event id. The same event always gets the same
timeuuid (a replay overwrites itself), and two events of the same microsecond get different
ones (seed-review #17)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from polyshop.domain.analytics import AnalyticsEvent

_GREGORIAN = datetime(1582, 10, 15, tzinfo=UTC)


def event_time(event: AnalyticsEvent) -> UUID:
    delta = event.occurred_at - _GREGORIAN
    ticks = (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
    raw = event.event_id.bytes
    clock_seq = int.from_bytes(raw[8:10]) & 0x3FFF
    node = int.from_bytes(raw[10:16])
    return UUID(
        fields=(
            ticks & 0xFFFFFFFF, (ticks >> 32) & 0xFFFF, ((ticks >> 48) & 0x0FFF) | 0x1000,
            ((clock_seq >> 8) & 0x3F) | 0x80, clock_seq & 0xFF, node,
        )
    )  # fmt: skip


def time_of(value: UUID) -> datetime:
    """The exact time (to the microsecond) a timeuuid from `event_time` carries."""
    return _GREGORIAN + timedelta(microseconds=value.time // 10)
