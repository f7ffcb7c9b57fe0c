"""The catalog routes' request and response bodies (pydantic models)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from polyshop.api._common import Model, MoneyIn, Name, Slug, Text
from polyshop.services.catalog import ProductSummary

# numeric(8, 2): six digits before the point (a larger one would be the database's refusal).
Weight = Annotated[str, Field(pattern=r"^\d{1,6}(\.\d{1,2})?$", examples=["1.25"])]
Policy = Literal["deny", "continue"]
StatusName = Literal["draft", "active", "inactive", "archived"]


class CategoryIn(Model):
    name: Name
    slug: Slug | None = None
    parent_id: UUID | None = None
    description: Text | None = None
    sort_order: int = Field(default=0, ge=-1_000_000, le=1_000_000)


class CategoryMove(Model):
    parent_id: UUID | None


class BrandIn(Model):
    name: Name
    slug: Slug | None = None
    description: Text | None = None


class VendorIn(Model):
    name: Name
    slug: Slug | None = None
    contact_email: Annotated[str, Field(max_length=255)] | None = None


class VariantIn(Model):
    title: Name
    sku: Annotated[str, Field(min_length=1, max_length=100)]
    price: MoneyIn
    compare_price: MoneyIn | None = None
    options: dict[str, Annotated[str, Field(max_length=255)]] = Field(default_factory=dict)
    initial_stock: int = Field(default=0, ge=0, le=1_000_000_000)
    inventory_policy: Policy = "deny"
    position: int = Field(default=0, ge=0, le=10_000)


class AttributeIn(Model):
    value: Annotated[str, Field(max_length=1000)] | bool | int
    type: Literal["text", "number", "boolean", "date", "url", "color"] = "text"


class NamedAttributeIn(AttributeIn):
    name: Annotated[str, Field(min_length=1, max_length=100)]


class ImageIn(Model):
    url: Annotated[str, Field(min_length=1, max_length=2048, pattern=r"^https?://\S+$")]
    alt_text: Annotated[str, Field(max_length=255)] | None = None
    primary: bool = False


class ProductIn(Model):
    name: Name
    sku: Annotated[str, Field(min_length=1, max_length=100)]
    price: MoneyIn
    category_id: UUID
    vendor_id: UUID | None = Field(
        default=None, description="Required for shop admins; vendor staff create for their own."
    )
    slug: Slug | None = None
    brand_id: UUID | None = None
    description: Text | None = None
    short_description: Annotated[str, Field(max_length=500)] | None = None
    compare_price: MoneyIn | None = None
    cost_price: MoneyIn | None = None
    weight: Weight | None = None
    status: StatusName = "draft"
    inventory_tracking: bool = True
    inventory_policy: Policy = "deny"
    initial_stock: int = Field(default=0, ge=0, le=1_000_000_000)
    low_stock_threshold: int | None = Field(default=None, ge=0, le=1_000_000_000)
    requires_shipping: bool = True
    taxable: bool = True
    seo_title: Annotated[str, Field(max_length=255)] | None = None
    seo_description: Text | None = None
    variants: list[VariantIn] = Field(default_factory=list, max_length=100)
    attributes: list[NamedAttributeIn] = Field(default_factory=list, max_length=100)
    images: list[ImageIn] = Field(default_factory=list, max_length=50)


class ProductPatch(Model):
    name: Name | None = None
    slug: Slug | None = None
    description: Text | None = None
    short_description: Annotated[str, Field(max_length=500)] | None = None
    sku: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    price: MoneyIn | None = None
    compare_price: MoneyIn | None = None
    cost_price: MoneyIn | None = None
    category_id: UUID | None = None
    brand_id: UUID | None = None
    inventory_policy: Policy | None = None
    low_stock_threshold: int | None = Field(default=None, ge=0, le=1_000_000_000)
    requires_shipping: bool | None = None
    taxable: bool | None = None
    seo_title: Annotated[str, Field(max_length=255)] | None = None
    seo_description: Text | None = None


class VariantPatch(Model):
    title: Name | None = None
    sku: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    price: MoneyIn | None = None
    compare_price: MoneyIn | None = None
    options: dict[str, Annotated[str, Field(max_length=255)]] | None = None
    inventory_policy: Policy | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)
    is_active: bool | None = None


class StatusIn(Model):
    status: StatusName


class StockChange(Model):
    change: int = Field(
        ge=-1_000_000_000, le=1_000_000_000, description="Units added (+) or removed (-)."
    )
    reason: Annotated[str, Field(min_length=1, max_length=255)]
    variant_id: UUID | None = None


class StockLevel(Model):
    product_id: UUID
    variant_id: UUID | None
    level: int


class ProductList(Model):
    items: list[ProductSummary]
    next: str | None = Field(description="The next page's URL, or null on the last page.")


class VariantOut(Model):
    id: UUID
    title: str
    sku: str
    price: str
    compare_price: str | None
    options: dict[str, Any]
    inventory_quantity: int
    inventory_policy: str
    position: int
    is_active: bool


class ProductPage(Model):
    """A product as a shop shows it (the cached read path); more fields may appear."""

    model_config = ConfigDict(extra="allow")
    id: UUID
    name: str
    slug: str
    sku: str
    price: str = Field(pattern=r"^\d+\.\d{2}$")
    status: StatusName
    vendor_id: UUID
    category_id: UUID
    variants: list[VariantOut]
    attributes: list[dict[str, Any]]
    images: list[dict[str, Any]]
    category_path: list[str]
    rating: dict[str, Any]
