"""The analytics projector: outbox events → AnalyticsEvents → the AnalyticsStore.

It reads storefront batches (`storefront.events_recorded`, written by POST /events) and the
committed order events (placed, status changes, refunds). Every analytics event gets an id
derived from its outbox row (storefront events keep the id the storefront gave them), and the
stores write by that id, so the relay's at-least-once delivery counts each event once. The
checkpoint is written after the store has the events: a crash in between replays the batch,
harmlessly. While the store is down the relay retries the batch and the events simply wait in
the outbox (other projectors and checkouts do not wait for it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from polyshop.adapters.postgres import Database, save_checkpoint
from polyshop.domain.analytics import (
    EVENTS_RECORDED,
    AnalyticsEvent,
    EventType,
    derived_event_id,
    storefront_event,
)
from polyshop.domain.events import Aggregate, Event
from polyshop.ports import AnalyticsStore, Checkpoint, Drift, OutboxEvent, Reader, Target

_PLACED = Event.ORDER_PLACED
_PARTIAL_REFUND = Event.ORDER_PARTIALLY_REFUNDED
# A refund settled after the order's own change (a cancelled order's): money back, no status.
_SETTLED_REFUND = Event.ORDER_REFUND_SETTLED
_FULL_REFUND = Event.ORDER_REFUNDED


def _wanted(event_type: str, aggregate_type: str) -> bool:
    return event_type == EVENTS_RECORDED or (
        aggregate_type == Aggregate.ORDER and event_type.startswith("order.")
    )


class AnalyticsProjector:
    def __init__(self, database: Database, store: AnalyticsStore, *, name: str = "analytics"):
        self.database = database
        self.store = store
        self.name = name

    async def targets(
        self, reader: Reader, events: Sequence[OutboxEvent]
    ) -> Mapping[int, Collection[Target]]:
        # The outbox row itself is the target: an analytics event is a fact about that row,
        # not a state to rebuild, so nothing coalesces.
        return {
            e.id: {("outbox", str(e.id))} for e in events if _wanted(e.event_type, e.aggregate_type)
        }

    async def build(
        self, reader: Reader, targets: Collection[Target], version: int
    ) -> list[AnalyticsEvent]:
        ids = sorted(int(key) for kind, key in targets if kind == "outbox")
        cursor = await reader.connection.execute(
            "SELECT id, aggregate_type, aggregate_id, event_type, payload, created_at FROM outbox"
            " WHERE id = ANY(%s) ORDER BY id",
            (ids,),
        )
        rows = await cursor.fetchall()
        tenant = reader.tenant_id
        orders = {UUID(r[2]) for r in rows if r[1] == Aggregate.ORDER}
        owners = await _order_owners(reader, orders)
        lines = await _order_lines(reader, {UUID(r[2]) for r in rows if r[3] == _PLACED})
        events: list[AnalyticsEvent] = []
        for outbox_id, _kind, key, event_type, payload, created_at in rows:
            if event_type == EVENTS_RECORDED:
                events += [storefront_event(tenant, raw) for raw in payload["events"]]
                continue
            order_id = UUID(key)
            customer = owners.get(order_id)
            common: dict[str, Any] = {
                "tenant_id": tenant, "occurred_at": created_at, "customer_id": customer,
                "order_id": order_id,
            }  # fmt: skip
            if event_type == _PLACED:
                for item_id, product_id, quantity, total, category_id in lines[order_id]:
                    events.append(AnalyticsEvent(
                        event_id=derived_event_id(outbox_id, f"item:{item_id}"),
                        type=EventType.PURCHASE, product_id=product_id, category_id=category_id,
                        quantity=quantity, amount=total, **common,
                    ))  # fmt: skip
                continue
            if event_type in (_PARTIAL_REFUND, _SETTLED_REFUND):
                events.append(AnalyticsEvent(
                    event_id=derived_event_id(outbox_id, "refund"), type=EventType.REFUND,
                    amount=Decimal(str(payload["amount"])),
                    detail="partial" if event_type == _PARTIAL_REFUND else "settled", **common,
                ))  # fmt: skip
                continue
            events.append(AnalyticsEvent(
                event_id=derived_event_id(outbox_id, "status"), type=EventType.ORDER_STATUS,
                detail=_status_detail(event_type, payload), **common,
            ))  # fmt: skip
            if event_type == _FULL_REFUND:
                amount = await _rest_refunded(reader, order_id, outbox_id)
                events.append(AnalyticsEvent(
                    event_id=derived_event_id(outbox_id, "refund"), type=EventType.REFUND,
                    amount=amount, detail="full", **common,
                ))  # fmt: skip
        return events

    async def apply(self, changes: Sequence[AnalyticsEvent], checkpoint: Checkpoint | None) -> int:
        await self.store.record(changes)
        if checkpoint is not None:
            async with self.database.unit_of_work() as uow:
                await save_checkpoint(uow.connection, checkpoint)
                await uow.commit()
        return len(changes)

    # ---- rebuild and verify -----------------------------------------------------------------

    async def everything(self, reader: Reader) -> Collection[Target]:
        cursor = await reader.connection.execute(
            "SELECT id FROM outbox WHERE event_type = %s"
            " OR (aggregate_type = 'order' AND event_type LIKE 'order.%%')",
            (EVENTS_RECORDED,),
        )
        return {("outbox", str(row[0])) for row in await cursor.fetchall()}

    async def reset(self, tenant_id: UUID) -> None:
        """Nothing to empty: rows are keyed by event, so a rebuild writes the same rows again
        (and retention removes the old ones)."""

    async def compare(self, tenant_id: UUID, expected: Sequence[AnalyticsEvent]) -> Drift:
        """Every timeline, order history, product day and category day the expected events
        touch, read back from the store: an event missing or extra is named by its id, a count
        that differs (an event counted twice, or lost) by its partition."""
        drift = Drift()
        kept = [e for e in expected if _retained(self.store, e)]
        drift.checked = len(kept)
        timelines: dict[tuple[str, Any], set[UUID]] = defaultdict(set)
        histories: dict[UUID, set[UUID]] = defaultdict(set)
        hourly: dict[tuple[UUID, Any], dict[tuple[int, str], int]] = defaultdict(
            lambda: defaultdict(int)
        )
        for e in kept:
            if e.user_key is not None:
                timelines[(e.user_key, e.day)].add(e.event_id)
            if e.order_id is not None:
                histories[e.order_id].add(e.event_id)
            if e.product_id is not None:
                hourly[(e.product_id, e.day)][(e.hour, str(e.type))] += 1
        for (user, day), wanted in timelines.items():
            found = {e.event_id for e in await self.store.user_timeline(tenant_id, user, day)}
            _diff(drift, tenant_id, f"timeline:{user}:{day}", wanted, found)
        for order_id, wanted in histories.items():
            found = {e.event_id for e in await self.store.order_history(tenant_id, order_id)}
            _diff(drift, tenant_id, f"order:{order_id}", wanted, found)
        for (product_id, day), counts in hourly.items():
            stored = {
                (h.hour, str(h.type)): h.events
                for h in await self.store.product_hourly(tenant_id, product_id, day)
            }
            if stored != dict(counts):
                drift.different.append((tenant_id, "product_hourly", f"{product_id}:{day}"))
        return drift


def _status_detail(event_type: str, payload: dict[str, Any]) -> str:
    """`confirmed->shipped` for a status change; the event's own name (`reserved`) otherwise."""
    if "to" in payload:
        return f"{payload.get('from')}->{payload['to']}"
    return event_type.removeprefix("order.")


def _retained(store: AnalyticsStore, event: AnalyticsEvent) -> bool:
    return event.occurred_at > datetime.now(UTC) - store.retention


def _diff(drift: Drift, tenant_id: UUID, where: str, wanted: set[UUID], found: set[UUID]) -> None:
    drift.missing += [(tenant_id, where, str(i)) for i in sorted(wanted - found, key=str)]
    drift.extra += [(tenant_id, where, str(i)) for i in sorted(found - wanted, key=str)]


async def _order_owners(reader: Reader, orders: set[UUID]) -> dict[UUID, UUID]:
    if not orders:
        return {}
    cursor = await reader.connection.execute(
        "SELECT id, user_id FROM orders WHERE id = ANY(%s)", (list(orders),)
    )
    return {row[0]: row[1] for row in await cursor.fetchall()}


async def _order_lines(
    reader: Reader, orders: set[UUID]
) -> dict[UUID, list[tuple[UUID, UUID, int, Decimal, UUID | None]]]:
    found: dict[UUID, list[tuple[UUID, UUID, int, Decimal, UUID | None]]] = defaultdict(list)
    if not orders:
        return found
    cursor = await reader.connection.execute(
        "SELECT i.order_id, i.id, i.product_id, i.quantity, i.total_price, p.category_id"
        " FROM order_items i LEFT JOIN products p ON p.id = i.product_id"
        " WHERE i.order_id = ANY(%s) ORDER BY i.order_id, i.id",
        (list(orders),),
    )
    for order_id, *line in await cursor.fetchall():
        found[order_id].append((line[0], line[1], line[2], line[3], line[4]))
    return found


async def _rest_refunded(reader: Reader, order_id: UUID, outbox_id: int) -> Decimal:
    """What the full refund added: everything refunded minus the partial refunds before it."""
    cursor = await reader.connection.execute(
        "SELECT (SELECT coalesce(sum(refunded_amount), 0) FROM payments WHERE order_id = %(o)s)"
        " - (SELECT coalesce(sum((payload ->> 'amount')::numeric), 0) FROM outbox"
        "     WHERE aggregate_type = 'order' AND aggregate_id = %(k)s"
        "       AND event_type = %(partial)s AND id < %(id)s)",
        {"o": order_id, "k": str(order_id), "partial": _PARTIAL_REFUND, "id": outbox_id},
    )
    row = await cursor.fetchone()
    assert row is not None
    return Decimal(row[0])
