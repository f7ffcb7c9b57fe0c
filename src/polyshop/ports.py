"""Ports: what the services need from the outside world, as Protocols with domain-level methods."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID


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
    """Charges and refunds, idempotent by our references.

    `reference` is our payment id for a charge and our refund id for a refund: the same
    reference never charges or refunds twice, and `retrieve` answers "what happened to
    reference R?" from the gateway's own record, from any process, after any crash.
    """

    name: str

    async def charge(
        self, *, reference: str, amount: Decimal, currency: str, method: str
    ) -> PaymentResult: ...

    async def retrieve(self, *, reference: str) -> PaymentResult | None:
        """The outcome recorded for a charge reference; None when the gateway never saw it."""
        ...

    async def void(self, *, reference: str) -> None:
        """Make sure the charge `reference` takes no money: cancel or reverse it if it was
        made, and refuse it if it arrives later (where the gateway allows)."""
        ...

    async def refund(
        self, *, reference: str, transaction_id: str, amount: Decimal, currency: str
    ) -> PaymentResult: ...


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
