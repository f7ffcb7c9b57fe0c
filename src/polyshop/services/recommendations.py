"""Recommendations for shoppers, from the graph (GraphStore): five recommenders, each item with
its reason. Product recommendations are cached in Redis per tenant (a generation the graph
projector bumps when it changes the tenant's graph); a customer's are computed per request from
their own few relationships."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from polyshop.domain.errors import ValidationError
from polyshop.domain.recommendations import (
    PERSONAL_SEEDS,
    PRODUCT_KINDS,
    Recommendation,
    RecommendationKind,
    explain,
    personalise,
    seed_weights,
)
from polyshop.ports import GraphStore
from polyshop.services.catalog_reads import ReadThroughCache

MAX_LIMIT = 50
PER_SEED = 20


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def kind_of(value: str) -> RecommendationKind:
    try:
        kind = RecommendationKind(value)
    except ValueError:
        kind = None
    if kind not in PRODUCT_KINDS:
        names = ", ".join(k.value for k in PRODUCT_KINDS)
        raise ValidationError(f"unknown recommendation kind {value!r} (one of: {names})")
    return kind


class RecommendationService:
    def __init__(self, store: GraphStore, cache: ReadThroughCache | None = None) -> None:
        self.store = store
        self._cache = cache

    async def for_product(
        self, tenant_id: UUID, product_id: UUID, kind: RecommendationKind, limit: int = 10
    ) -> list[Recommendation]:
        _limit(limit)
        if self._cache is None:
            return await self._for_product(tenant_id, product_id, kind, limit)

        async def load() -> list[dict[str, Any]]:
            return [asdict(r) for r in await self._for_product(tenant_id, product_id, kind, limit)]

        cached = await self._cache.get_or_load(tenant_id, f"{product_id}:{kind}:{limit}", load)
        return [Recommendation(UUID(r["product_id"]), r["name"], r["score"], r["reason"])
                for r in cached]  # fmt: skip

    async def _for_product(
        self, tenant_id: UUID, product_id: UUID, kind: RecommendationKind, limit: int
    ) -> list[Recommendation]:
        if kind is RecommendationKind.TRENDING:
            category = await self.store.category_of(tenant_id, product_id)
            if category is None:
                return []
            found = await self.trending(tenant_id, category[0], limit + 1, name=category[1])
            return [r for r in found if r.product_id != product_id][:limit]
        related = await self.store.related(tenant_id, product_id, kind, limit)
        return [Recommendation(r.product_id, r.name, r.weight, explain(kind, r)) for r in related]

    async def trending(
        self, tenant_id: UUID, category_id: UUID, limit: int = 10, *, name: str | None = None
    ) -> list[Recommendation]:
        found = await self.store.trending(tenant_id, category_id, limit)
        # The stored score is a forward-decayed sum (domain.recommendations): only its order
        # means something, so the answer's score is the rank's weight relative to the first.
        top = found[0].weight if found and found[0].weight > 0 else 1.0
        return [
            Recommendation(r.product_id, r.name, round(r.weight / top, 6),
                           explain(RecommendationKind.TRENDING, r, name))
            for r in found
        ]  # fmt: skip

    async def for_customer(
        self, tenant_id: UUID, user_id: UUID, limit: int = 10, *, now: datetime | None = None
    ) -> list[Recommendation]:
        """Personalised: the customer's recent purchases, carts, views and good reviews lead to
        what is bought with them and what is like them; never what they already bought."""
        _limit(limit)
        now = now or datetime.now(UTC)
        # One round trip: the store picks the seeds and ranks the candidates, and sends only
        # the seeds' signals and the first `limit` candidates (with any close behind them):
        # a few rows instead of every seed's 40 neighbours. The exact weights, scores, order
        # and reasons are computed here, by the domain's rules, from what it sent.
        signals, neighbours = await self.store.personal(
            tenant_id, user_id, now, limit, PERSONAL_SEEDS, PER_SEED
        )
        seeds = seed_weights(signals, now)
        if not seeds:
            return []
        bought = {s.product_id for s in signals if s.purchased}
        return personalise(seeds, neighbours, bought, limit)
