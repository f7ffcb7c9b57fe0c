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
    """Told after a commit that changed products (their page, price, stock or listing)."""

    async def products_changed(self, tenant_id: UUID, product_ids: Collection[UUID]) -> None: ...


class NoListener:
    async def products_changed(self, tenant_id: UUID, product_ids: Collection[UUID]) -> None:
        return None
