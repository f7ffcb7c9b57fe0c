"""Storefront sessions (views, searches, carts) as outbox batches, one per session, each event
in the shape `POST /events` writes (`domain.analytics.payload_event`: the contract the analytics
and graph projectors share), so the projectors cannot tell seeded traffic from real traffic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from polyshop.domain.analytics import EVENTS_RECORDED, EventType, payload_event
from polyshop.domain.events import Aggregate
from polyshop.services.seeding._plan import CHUNK, COLUMNS, Batch
from polyshop.services.seeding._shop import ShopState, Sku
from polyshop.services.seeding._vocabulary import SEARCHES


class SessionRows(ShopState):
    def sessions(self) -> Iterator[tuple[list[Batch], int]]:
        """Outbox batches (one per session) and how many events they hold."""
        if not self.skus:
            return
        t, rng = self.tenant_id, self.rng
        made = 0
        while made < self.n_events:
            batch = Batch("outbox", COLUMNS["outbox"])
            in_chunk = 0
            while made + in_chunk < self.n_events and len(batch.rows) < CHUNK:
                size = min(rng.randint(3, 15), self.n_events - made - in_chunk)
                started, events = self._session(size)
                batch.rows.append((t, str(Aggregate.STOREFRONT), str(self._uuid()),
                                   EVENTS_RECORDED, {"events": events}, started))  # fmt: skip
                in_chunk += len(events)
            made += in_chunk
            yield [batch], in_chunk

    def _session(self, size: int) -> tuple[datetime, list[dict[str, Any]]]:
        """One visitor's `size` events, a few seconds to two minutes apart: maybe a search,
        then views, some added to (or removed from) the cart, sometimes a checkout started.
        A customer signed in for some, anonymous (their cart only) for the others. Returns
        when it started and its events."""
        rng = self.rng
        at = started = self._moment()
        customer = (self.user_ids[self._customer_before(at)]
                    if self.user_ids and rng.random() < 0.45 else None)  # fmt: skip
        session = f"s-{self._uuid().hex[:16]}"
        cart = f"c-{self._uuid().hex[:16]}"
        events: list[dict[str, Any]] = []

        def add(kind: EventType, sku: Sku | None = None, **extra: Any) -> None:
            nonlocal at
            events.append(payload_event(
                event_id=self._uuid(), kind=kind, occurred_at=at,
                customer_id=customer, cart_token=cart if kind != EventType.SEARCH else None,
                session_id=session,
                product_id=sku.product_id if sku else None,
                category_id=sku.category_id if sku else None,
                query=extra.get("query"), quantity=extra.get("quantity"),
            ))  # fmt: skip
            at += timedelta(seconds=rng.randint(5, 120))

        if rng.random() < 0.4:
            add(EventType.SEARCH, query=rng.choice(SEARCHES))
        viewed: list[Sku] = []
        while len(events) < size:
            roll = rng.random()
            if viewed and roll < 0.2:
                add(EventType.ADD_TO_CART, rng.choice(viewed), quantity=rng.randint(1, 2))
            elif viewed and roll < 0.24:
                add(EventType.REMOVE_FROM_CART, rng.choice(viewed), quantity=1)
            elif viewed and roll < 0.3:
                add(EventType.CHECKOUT_STARTED)
            else:
                sku = self._pick_skus(1)[0]
                viewed.append(sku)
                add(EventType.VIEW, sku)
        return started, events
