"""Ports: what the services need from the outside world, as Protocols with domain-level methods."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

from polyshop.domain.recommendations import (
    CategoryFact,
    Interaction,
    Neighbour,
    OrderFact,
    ProductFact,
    RecommendationKind,
    Related,
    ReviewFact,
    Signal,
    Similarity,
)


class PaymentOutcome(StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PaymentResult:
    outcome: PaymentOutcome
    transaction_id: str | None
    response: dict[str, Any] = field(default_factory=dict)


class PaymentGateway(Protocol):
    """Charges and refunds. `reference` is our payment id: the same reference never charges twice."""

    name: str

    async def charge(
        self, *, reference: str, amount: Decimal, currency: str, method: str
    ) -> PaymentResult: ...

    async def refund(
        self, *, transaction_id: str, amount: Decimal, currency: str
    ) -> PaymentResult: ...

    async def void(self, *, reference: str) -> None: ...


class ProductChangeListener(Protocol):
    """Told after a commit that changed products: their page, and with `listings` also what
    listings and searches show (stock alone changes only the page)."""

    async def products_changed(
        self, tenant_id: UUID, product_ids: Collection[UUID], *, listings: bool = True
    ) -> None: ...


class NoListener:
    async def products_changed(
        self, tenant_id: UUID, product_ids: Collection[UUID], *, listings: bool = True
    ) -> None:
        return None


@dataclass(frozen=True, slots=True)
class DocumentChange:
    """The new state of one document (None: it no longer exists), as built at `version`."""

    tenant_id: UUID
    collection: str
    id: str
    document: dict[str, Any] | None
    version: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    projector: str
    transaction_id: int
    event_id: int


class DocumentStore(Protocol):
    """Denormalised documents (the spec's MongoDB collections), derived from PostgreSQL.

    Money is Decimal and times are datetimes on the way in and out, whatever the store keeps.
    Every stored document carries `tenant_id` (set by the store to the change's tenant).
    """

    name: str

    async def apply(self, changes: list[DocumentChange], checkpoint: Checkpoint | None) -> int:
        """Write the changes (a change older than the stored document is ignored) and, where
        the store allows, the checkpoint atomically with them; returns how many changed."""
        ...

    async def get(self, tenant_id: UUID, collection: str, doc_id: str) -> dict[str, Any] | None: ...

    async def find(
        self, tenant_id: UUID, collection: str, *, equals: dict[str, Any],
        sort: str | None = None, descending: bool = False, limit: int = 50,
    ) -> list[dict[str, Any]]: ...  # fmt: skip

    async def all(self, tenant_id: UUID, collection: str) -> dict[str, dict[str, Any]]: ...

    async def clear(self, tenant_id: UUID, collection: str) -> None: ...


# ---------------------------------------------------------------- the graph (recommendations)

GraphSnapshot = dict[str, dict[str, tuple[Any, ...]]]
"""A tenant's whole graph in one comparable shape: per label or relationship type, its key
("id" for nodes, "from>to" for relationships) and its properties."""


class GraphWriter(Protocol):
    """One transaction of one tenant's graph (committed when the `writer` block exits cleanly).
    The projector decides what changes (`domain.recommendations`); a writer stores it."""

    async def put_categories(self, facts: Sequence[CategoryFact]) -> None: ...

    async def put_products(self, facts: Sequence[ProductFact]) -> None: ...

    async def similarity_candidates(self, facts: Sequence[ProductFact]) -> list[ProductFact]:
        """Stored products sharing a category or a brand with any of `facts`."""
        ...

    async def replace_similar(
        self, product_ids: Collection[UUID], edges: Sequence[tuple[UUID, UUID, Similarity]]
    ) -> None:
        """Drop every SIMILAR_TO touching `product_ids`, then store `edges`."""
        ...

    async def orders(self, ids: Collection[UUID]) -> dict[UUID, OrderFact]: ...

    async def put_orders(self, facts: Sequence[OrderFact]) -> None: ...

    async def purchased(self, user_ids: Collection[UUID]) -> dict[UUID, dict[UUID, int]]:
        """The stored PURCHASED counts of these customers."""
        ...

    async def bought(
        self, user_ids: Collection[UUID]
    ) -> dict[UUID, dict[UUID, tuple[int, datetime]]]:
        """What the stored counted orders say these customers bought: count and last time."""
        ...

    async def set_purchased(
        self, user_ids: Collection[UUID], bought: dict[UUID, dict[UUID, tuple[int, datetime]]]
    ) -> None: ...

    async def add_pairs(
        self, kind: RecommendationKind, deltas: dict[tuple[UUID, UUID], int]
    ) -> None:
        """Add to FREQUENTLY_BOUGHT_WITH weights or ALSO_BOUGHT customer counts (0 removes)."""
        ...

    async def add_trend(self, deltas: dict[UUID, tuple[float, int]]) -> None: ...

    async def replace_reviews(
        self, product_ids: Collection[UUID], facts: Sequence[ReviewFact]
    ) -> None: ...

    async def unapplied(self, batch_ids: Collection[int]) -> set[int]:
        """Which storefront batches (outbox ids) this graph has not counted yet."""
        ...

    async def add_interactions(
        self, batch_ids: Collection[int], rows: Sequence[Interaction]
    ) -> None:
        """Count the interactions and remember the batches as applied."""
        ...


class GraphStore(Protocol):
    """The recommendation graph (the spec's Neo4j part), derived from PostgreSQL and the
    storefront events. Reads return only products for sale, of the given tenant."""

    name: str

    async def setup(self) -> None: ...

    def writer(self, tenant_id: UUID) -> AbstractAsyncContextManager[GraphWriter]: ...

    async def related(
        self, tenant_id: UUID, product_id: UUID, kind: RecommendationKind, limit: int
    ) -> list[Related]: ...

    async def category_of(self, tenant_id: UUID, product_id: UUID) -> tuple[UUID, str] | None: ...

    async def trending(self, tenant_id: UUID, category_id: UUID, limit: int) -> list[Related]:
        """Products of the category and its subcategories by decayed orders and interest."""
        ...

    async def signals(self, tenant_id: UUID, user_id: UUID) -> list[Signal]: ...

    async def neighbours(
        self, tenant_id: UUID, seed_ids: Collection[UUID], per_seed: int
    ) -> list[Neighbour]:
        """Each seed's strongest FREQUENTLY_BOUGHT_WITH and SIMILAR_TO neighbours for sale."""
        ...

    async def snapshot(self, tenant_id: UUID) -> GraphSnapshot: ...

    async def clear(self, tenant_id: UUID) -> None: ...
