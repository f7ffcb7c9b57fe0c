"""Read paths served from the document store: one read per page, no joins."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from polyshop.domain.catalog import without_purchase_cost
from polyshop.domain.errors import NotFoundError
from polyshop.ports import DocumentStore


class DocumentReads:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def product_by_slug(self, tenant_id: UUID, slug: str) -> dict[str, Any]:
        found = await self._store.find(tenant_id, "products", equals={"slug": slug}, limit=1)
        if not found:
            raise NotFoundError(f"no product {slug!r}")
        return found[0]

    async def storefront_product_by_slug(self, tenant_id: UUID, slug: str) -> dict[str, Any]:
        """The product page from its document, for shoppers: only products for sale."""
        found = await self._store.find(
            tenant_id, "products", equals={"slug": slug, "status": "active"}, limit=1
        )
        if not found:
            raise NotFoundError(f"no product {slug!r}")
        return without_purchase_cost(found[0])

    async def category_listing(
        self, tenant_id: UUID, category_id: UUID, *, limit: int = 50
    ) -> list[dict[str, Any]]:
        found = await self._store.find(
            tenant_id, "products", equals={"category.id": str(category_id), "status": "active"},
            sort="name", limit=limit,
        )  # fmt: skip
        return [without_purchase_cost(document) for document in found]

    async def order_history(
        self, tenant_id: UUID, customer_id: UUID, *, limit: int = 20
    ) -> list[dict[str, Any]]:
        return await self._store.find(
            tenant_id, "orders", equals={"user.id": str(customer_id)},
            sort="metadata.createdAt", descending=True, limit=limit,
        )  # fmt: skip
