"""What the catalog's use cases take and give: drafts, queries, pages and rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from polyshop.domain.catalog import ProductStatus

Sort = Literal["newest", "price_asc", "price_desc", "name", "relevance"]
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Category:
    id: UUID
    name: str
    slug: str
    parent_id: UUID | None
    sort_order: int
    is_active: bool
    depth: int = 0


@dataclass(frozen=True, slots=True)
class Brand:
    id: UUID
    name: str
    slug: str
    description: str | None


@dataclass(frozen=True, slots=True)
class Vendor:
    id: UUID
    name: str
    slug: str
    contact_email: str | None
    is_active: bool


@dataclass(frozen=True, slots=True)
class VariantDraft:
    title: str
    sku: str
    price: Decimal | str
    options: dict[str, Any] = field(default_factory=dict)
    initial_stock: int = 0
    inventory_policy: Literal["deny", "continue"] = "deny"
    compare_price: Decimal | str | None = None
    position: int = 0


@dataclass(frozen=True, slots=True)
class ProductDraft:
    name: str
    sku: str
    price: Decimal | str
    category_id: UUID
    vendor_id: UUID
    slug: str | None = None
    brand_id: UUID | None = None
    description: str | None = None
    short_description: str | None = None
    compare_price: Decimal | str | None = None
    cost_price: Decimal | str | None = None
    weight: Decimal | str | None = None
    dimensions: dict[str, Any] | None = None
    status: ProductStatus = ProductStatus.DRAFT
    inventory_tracking: bool = True
    inventory_policy: Literal["deny", "continue"] = "deny"
    initial_stock: int = 0
    low_stock_threshold: int | None = None
    requires_shipping: bool = True
    taxable: bool = True
    seo_title: str | None = None
    seo_description: str | None = None
    variants: tuple[VariantDraft, ...] = ()
    attributes: tuple[tuple[str, object, str], ...] = ()  # (name, value, type)
    images: tuple[tuple[str, str | None], ...] = ()  # (url, alt text); the first is primary


@dataclass(frozen=True, slots=True)
class ProductSummary:
    id: UUID
    name: str
    slug: str
    sku: str
    price: Decimal
    compare_price: Decimal | None
    status: str
    category_id: UUID
    brand_id: UUID | None
    vendor_id: UUID
    image_url: str | None
    created_at: datetime
    rank: float | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[ProductSummary]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ProductQuery:
    category_id: UUID | None = None  # includes the whole subtree
    brand_id: UUID | None = None
    vendor_id: UUID | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    attributes: tuple[tuple[str, str], ...] = ()  # (name, value), all must match
    status: ProductStatus | None = ProductStatus.ACTIVE
    text: str | None = None
    sort: Sort = "newest"
    limit: int = 20
    cursor: str | None = None
