"""Analytics use cases: storefront events in, the analytics queries out.

Ingest never touches the analytics store: an accepted batch becomes one outbox row
(`storefront.events_recorded`) in PostgreSQL, and the analytics projector (like the graph
projector) carries it to the store. So a slow or stopped Cassandra never fails a storefront
request or a checkout; events wait in the outbox and arrive when it is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

from polyshop.adapters.postgres import Database
from polyshop.domain.analytics import (
    EVENTS_RECORDED,
    TOP_BY,
    TOP_MAX,
    AnalyticsEvent,
    Funnel,
    HourlyCount,
    ProductRank,
    user_key,
    validate_batch,
)
from polyshop.domain.errors import ValidationError
from polyshop.domain.events import Aggregate
from polyshop.ports import AnalyticsStore


class AnalyticsService:
    def __init__(self, database: Database, store: AnalyticsStore, *, max_batch: int) -> None:
        self._database = database
        self.store = store
        self.max_batch = max_batch

    async def record_storefront(
        self, tenant_id: UUID, events: Sequence[AnalyticsEvent], *, now: datetime | None = None
    ) -> UUID:
        """Accept a whole batch or nothing (the first bad event names its field); returns the
        batch id (the outbox row's aggregate id)."""
        batch = validate_batch(
            tenant_id, list(events), max_events=self.max_batch, now=now or datetime.now(UTC)
        )
        batch_id = uuid4()
        async with self._database.unit_of_work(tenant_id) as uow:
            await uow.append_event(Aggregate.STOREFRONT, batch_id, EVENTS_RECORDED, batch.payload())
            await uow.commit()
        return batch_id

    async def timeline(
        self, tenant_id: UUID, day: date, *, customer_id: UUID | None = None,
        cart_token: str | None = None,
    ) -> list[AnalyticsEvent]:  # fmt: skip
        key = user_key(customer_id, cart_token)
        if key is None:
            raise ValidationError("a timeline is for a customer or a cart", field="customer_id")
        return await self.store.user_timeline(tenant_id, key, day)

    async def product_hourly(
        self, tenant_id: UUID, product_id: UUID, day: date
    ) -> list[HourlyCount]:
        return await self.store.product_hourly(tenant_id, product_id, day)

    async def funnel(
        self, tenant_id: UUID, day: date, *, product_id: UUID | None = None,
        category_id: UUID | None = None,
    ) -> Funnel:  # fmt: skip
        if (product_id is None) == (category_id is None):
            raise ValidationError("a funnel is for one product or one category", field="product_id")
        return await self.store.funnel(
            tenant_id, day, product_id=product_id, category_id=category_id
        )

    async def top_products(
        self, tenant_id: UUID, day: date, *, by: str = "views", limit: int = 10
    ) -> list[ProductRank]:
        if by not in TOP_BY:
            raise ValidationError(f"rank by {' or '.join(TOP_BY)}, not {by!r}", field="by")
        if not 1 <= limit <= TOP_MAX:
            raise ValidationError(f"limit is between 1 and {TOP_MAX}", field="limit")
        return await self.store.top_products(tenant_id, day, by=by, limit=limit)

    async def order_history(self, tenant_id: UUID, order_id: UUID) -> list[AnalyticsEvent]:
        return await self.store.order_history(tenant_id, order_id)
