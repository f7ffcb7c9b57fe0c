"""Catalog use cases: categories, brands, vendors, products with variants, attributes, images,
listing with filters and keyset pagination, and ranked full-text search."""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from polyshop.adapters.postgres import (
    CATEGORY_PATH,
    CATEGORY_SUBTREE,
    Database,
    UnitOfWork,
    domain_errors,
)
from polyshop.codec import dumps
from polyshop.domain.catalog import (
    ProductStatus,
    check_product_transition,
    normalise_attribute,
    slugify,
    without_purchase_cost,
)
from polyshop.domain.errors import NotFoundError, ValidationError
from polyshop.domain.events import Aggregate, Event, created
from polyshop.domain.money import parse_money
from polyshop.ports import NoListener, ProductChangeListener
from polyshop.services._inventory_ledger import record_movement

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


_PRODUCT_FIELDS = (
    "name", "slug", "description", "short_description", "sku", "price", "compare_price",
    "cost_price", "weight", "dimensions", "category_id", "brand_id", "vendor_id",
    "inventory_tracking", "inventory_policy", "low_stock_threshold", "requires_shipping",
    "taxable", "seo_title", "seo_description",
)  # fmt: skip
_MONEY_FIELDS = {"price", "compare_price", "cost_price", "weight"}
_VARIANT_FIELDS = ("title", "sku", "price", "compare_price", "options", "inventory_policy",
                   "position", "is_active")  # fmt: skip

_VENDOR_OF_VARIANT = (
    "SELECT p.vendor_id FROM product_variants v JOIN products p"
    " ON p.tenant_id = v.tenant_id AND p.id = v.product_id WHERE v.id = %s"
)
_VENDOR_OF_IMAGE = (
    "SELECT p.vendor_id FROM product_images i JOIN products p"
    " ON p.tenant_id = i.tenant_id AND p.id = i.product_id WHERE i.id = %s"
)

_SORTS: dict[str, tuple[str, str]] = {
    # sort -> (expression, direction); the id breaks ties in the same direction.
    "newest": ("p.created_at", "DESC"),
    "price_asc": ("p.price", "ASC"),
    "price_desc": ("p.price", "DESC"),
    "name": ("p.name", "ASC"),
    "relevance": ("rank", "DESC"),
}


def _encode_cursor(value: object, row_id: UUID) -> str:
    raw = dumps([value, str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: Sort) -> tuple[Any, UUID]:
    """The (sort key, id) a page ends at, each of the type its column compares with: a cursor
    is client input, and a dict or a number where a time belongs must be a 422, not a query
    the database refuses."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return _cursor_key(sort, value), UUID(row_id)
    except (ValueError, TypeError, ArithmeticError, binascii.Error):
        raise ValidationError("the page cursor is not valid", field="cursor") from None


def _cursor_key(sort: Sort, value: object) -> Any:
    if sort == "newest" and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            return moment
    elif sort in ("price_asc", "price_desc") and isinstance(value, str):
        return parse_money(value, field="cursor")
    elif sort == "name" and isinstance(value, str) and len(value) <= 255 and "\0" not in value:
        value.encode()  # a lone surrogate (JSON allows "\ud800") is not text PostgreSQL takes
        return value
    elif sort == "relevance" and isinstance(value, int | float) and not isinstance(value, bool):
        rank = float(value)
        if math.isfinite(rank):
            return rank
    raise ValueError("a cursor key of the wrong type")


def _money_or_none(value: Decimal | str | None, name: str) -> Decimal | None:
    return None if value is None else parse_money(value, field=name)


class CatalogService:
    def __init__(self, database: Database, listener: ProductChangeListener | None = None) -> None:
        self._database = database
        self.listener: ProductChangeListener = listener or NoListener()

    # -- categories --------------------------------------------------------------------------

    async def create_category(
        self,
        tenant_id: UUID,
        name: str,
        *,
        slug: str | None = None,
        parent_id: UUID | None = None,
        description: str | None = None,
        sort_order: int = 0,
    ) -> Category:
        slug = slug or slugify(name)
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                cursor = await uow.connection.execute(
                    "INSERT INTO categories (tenant_id, name, slug, parent_id, description, sort_order)"
                    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (tenant_id, name, slug, parent_id, description, sort_order),
                )
            row = await cursor.fetchone()
            assert row is not None
            await uow.append_event(
                Aggregate.CATEGORY, row[0], Event.CATEGORY_CREATED, {"slug": slug}
            )
            await uow.commit()
        return Category(row[0], name, slug, parent_id, sort_order, True)

    async def move_category(
        self, tenant_id: UUID, category_id: UUID, parent_id: UUID | None
    ) -> None:
        """Re-parent a category; moving it under itself or a descendant is refused."""
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                cursor = await uow.connection.execute(
                    "UPDATE categories SET parent_id = %s WHERE id = %s", (parent_id, category_id)
                )
            if cursor.rowcount == 0:
                raise NotFoundError("category not found")
            await uow.append_event(
                Aggregate.CATEGORY, category_id, Event.CATEGORY_MOVED, {"parent_id": parent_id}
            )
            await uow.commit()

    async def categories(self, tenant_id: UUID) -> list[Category]:
        """The tree, depth-first, siblings by sort order then name."""
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                """
                WITH RECURSIVE tree AS (
                    SELECT id, name, slug, parent_id, sort_order, is_active, 0 AS depth,
                           ARRAY[sort_order::text || ':' || name || ':' || id::text] AS path
                      FROM categories WHERE parent_id IS NULL
                    UNION ALL
                    SELECT c.id, c.name, c.slug, c.parent_id, c.sort_order, c.is_active,
                           t.depth + 1, t.path || (c.sort_order::text || ':' || c.name || ':' || c.id::text)
                      FROM categories c JOIN tree t ON c.parent_id = t.id
                )
                SELECT id, name, slug, parent_id, sort_order, is_active, depth FROM tree ORDER BY path
                """
            )
            return [Category(*row) for row in await cursor.fetchall()]

    async def subtree(self, tenant_id: UUID, category_id: UUID) -> list[UUID]:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(CATEGORY_SUBTREE, (category_id,))
            ids = [row[0] for row in await cursor.fetchall()]
        if not ids:
            raise NotFoundError("category not found")
        return ids

    # -- brands and vendors ------------------------------------------------------------------

    async def create_brand(
        self, tenant_id: UUID, name: str, *, slug: str | None = None, description: str | None = None
    ) -> UUID:
        return await self._create_named(
            tenant_id, "brands", Aggregate.BRAND, name, slug, {"description": description}
        )

    async def create_vendor(
        self,
        tenant_id: UUID,
        name: str,
        *,
        slug: str | None = None,
        contact_email: str | None = None,
    ) -> UUID:
        return await self._create_named(
            tenant_id, "vendors", Aggregate.VENDOR, name, slug, {"contact_email": contact_email}
        )

    async def brands(self, tenant_id: UUID) -> list[Brand]:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT id, name, slug, description FROM brands ORDER BY name, id"
            )
            return [Brand(*row) for row in await cursor.fetchall()]

    async def vendors(self, tenant_id: UUID) -> list[Vendor]:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT id, name, slug, contact_email, is_active FROM vendors ORDER BY name, id"
            )
            return [Vendor(*row) for row in await cursor.fetchall()]

    async def _create_named(
        self, tenant_id: UUID, table: str, kind: Aggregate, name: str, slug: str | None,
        extra: dict[str, Any],
    ) -> UUID:  # fmt: skip
        slug = slug or slugify(name)
        columns = ["tenant_id", "name", "slug", *extra]
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
            sql.Identifier(table),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        )
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                cursor = await uow.connection.execute(
                    statement, (tenant_id, name, slug, *extra.values())
                )
            row = await cursor.fetchone()
            assert row is not None
            await uow.append_event(kind, row[0], created(kind), {"name": name, "slug": slug})
            await uow.commit()
        return UUID(str(row[0]))

    # -- products ----------------------------------------------------------------------------

    async def create_product(self, tenant_id: UUID, draft: ProductDraft) -> UUID:
        values = {
            "name": draft.name,
            "slug": draft.slug or slugify(draft.name),
            "sku": draft.sku,
            "price": parse_money(draft.price, field="price"),
            "compare_price": _money_or_none(draft.compare_price, "compare_price"),
            "cost_price": _money_or_none(draft.cost_price, "cost_price"),
            "weight": _money_or_none(draft.weight, "weight"),
            "dimensions": Jsonb(draft.dimensions) if draft.dimensions is not None else None,
            "category_id": draft.category_id,
            "brand_id": draft.brand_id,
            "vendor_id": draft.vendor_id,
            "description": draft.description,
            "short_description": draft.short_description,
            "status": ProductStatus(draft.status).value,
            "inventory_tracking": draft.inventory_tracking,
            "inventory_policy": draft.inventory_policy,
            "low_stock_threshold": draft.low_stock_threshold,
            "requires_shipping": draft.requires_shipping,
            "taxable": draft.taxable,
            "seo_title": draft.seo_title,
            "seo_description": draft.seo_description,
        }
        if draft.variants and draft.initial_stock:
            raise ValidationError(
                "a product with variants keeps its stock on the variants", field="initial_stock"
            )
        if draft.initial_stock < 0:
            raise ValidationError("initial stock cannot be negative", field="initial_stock")
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                product_id = await _insert_returning_id(uow, "products", tenant_id, values)
                if draft.initial_stock:
                    await record_movement(
                        uow, product_id, None, draft.initial_stock, "in", reason="initial stock"
                    )
                for variant in draft.variants:
                    await self._insert_variant(uow, product_id, variant)
                for name, value, kind in draft.attributes:
                    await _upsert_attribute(uow, product_id, name, value, kind)
                for position, (url, alt) in enumerate(draft.images):
                    await uow.connection.execute(
                        "INSERT INTO product_images (tenant_id, product_id, url, alt_text, position,"
                        " is_primary) VALUES (%s, %s, %s, %s, %s, %s)",
                        (tenant_id, product_id, url, alt, position, position == 0),
                    )
            await uow.append_event(
                Aggregate.PRODUCT,
                product_id,
                Event.PRODUCT_CREATED,
                {"sku": draft.sku, "slug": values["slug"]},
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [product_id])
        return product_id

    async def update_product(self, tenant_id: UUID, product_id: UUID, **changes: Any) -> None:
        unknown = set(changes) - set(_PRODUCT_FIELDS)
        if unknown:
            raise ValidationError(f"cannot change {', '.join(sorted(unknown))}", field=min(unknown))
        if not changes:
            return
        for name in _MONEY_FIELDS & set(changes):
            changes[name] = _money_or_none(changes[name], name)
        if "dimensions" in changes and changes["dimensions"] is not None:
            changes["dimensions"] = Jsonb(changes["dimensions"])
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                await _update_by_id(uow, "products", product_id, changes, "product")
            await uow.append_event(
                Aggregate.PRODUCT, product_id, Event.PRODUCT_UPDATED, {"fields": sorted(changes)}
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [product_id])

    async def change_status(self, tenant_id: UUID, product_id: UUID, target: ProductStatus) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT status FROM products WHERE id = %s FOR UPDATE", (product_id,)
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("product not found")
            check_product_transition(ProductStatus(row[0]), ProductStatus(target))
            await uow.connection.execute(
                "UPDATE products SET status = %s WHERE id = %s", (str(target), product_id)
            )
            await uow.append_event(
                Aggregate.PRODUCT,
                product_id,
                Event.PRODUCT_STATUS_CHANGED,
                {"from": row[0], "to": str(target)},
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [product_id])

    async def add_variant(self, tenant_id: UUID, product_id: UUID, variant: VariantDraft) -> UUID:
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                variant_id = await self._insert_variant(uow, product_id, variant)
            await uow.append_event(
                Aggregate.PRODUCT,
                product_id,
                Event.PRODUCT_VARIANT_ADDED,
                {"variant_id": variant_id},
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [product_id])
        return variant_id

    async def update_variant(self, tenant_id: UUID, variant_id: UUID, **changes: Any) -> None:
        unknown = set(changes) - set(_VARIANT_FIELDS)
        if unknown:
            raise ValidationError(f"cannot change {', '.join(sorted(unknown))}", field=min(unknown))
        for name in {"price", "compare_price"} & set(changes):
            changes[name] = _money_or_none(changes[name], name)
        if "options" in changes:
            changes["options"] = Jsonb(changes["options"])
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                product_id = await _update_by_id(
                    uow, "product_variants", variant_id, changes, "variant", returning="product_id"
                )
            await uow.append_event(
                Aggregate.PRODUCT,
                product_id,
                Event.PRODUCT_VARIANT_UPDATED,
                {"variant_id": variant_id},
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [product_id])

    async def remove_variant(self, tenant_id: UUID, variant_id: UUID) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                cursor = await uow.connection.execute(
                    "DELETE FROM product_variants WHERE id = %s RETURNING product_id", (variant_id,)
                )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("variant not found")
            await uow.append_event(
                Aggregate.PRODUCT, row[0], Event.PRODUCT_VARIANT_REMOVED, {"variant_id": variant_id}
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [row[0]])

    async def _insert_variant(self, uow: UnitOfWork, product_id: UUID, draft: VariantDraft) -> UUID:
        if draft.initial_stock < 0:
            raise ValidationError("initial stock cannot be negative", field="initial_stock")
        variant_id = await _insert_returning_id(
            uow,
            "product_variants",
            uow.tenant_id,
            {
                "product_id": product_id,
                "title": draft.title,
                "sku": draft.sku,
                "price": parse_money(draft.price, field="price"),
                "compare_price": _money_or_none(draft.compare_price, "compare_price"),
                "options": Jsonb(draft.options),
                "inventory_policy": draft.inventory_policy,
                "position": draft.position,
            },
        )
        if draft.initial_stock:
            await record_movement(
                uow, product_id, variant_id, draft.initial_stock, "in", reason="initial stock"
            )
        return variant_id

    async def set_attribute(
        self, tenant_id: UUID, product_id: UUID, name: str, value: object, kind: str = "text"
    ) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                await _upsert_attribute(uow, product_id, name, value, kind)
            await uow.append_event(
                Aggregate.PRODUCT, product_id, Event.PRODUCT_ATTRIBUTE_SET, {"name": name}
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [product_id])

    async def remove_attribute(self, tenant_id: UUID, product_id: UUID, name: str) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "DELETE FROM product_attributes WHERE product_id = %s AND name = %s",
                (product_id, name),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"attribute {name!r} not found")
            await uow.append_event(
                Aggregate.PRODUCT, product_id, Event.PRODUCT_ATTRIBUTE_REMOVED, {"name": name}
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [product_id])

    async def add_image(
        self, tenant_id: UUID, product_id: UUID, url: str, *, alt_text: str | None = None,
        primary: bool = False,
    ) -> UUID:  # fmt: skip
        """Add an image; the first image of a product, or one added as primary, is the primary."""
        async with self._database.unit_of_work(tenant_id) as uow:
            await _lock_product(uow, product_id)
            cursor = await uow.connection.execute(
                "SELECT count(*), coalesce(max(position) + 1, 0) FROM product_images"
                " WHERE product_id = %s",
                (product_id,),
            )
            count, position = await cursor.fetchone()  # type: ignore[misc]
            if primary:
                await uow.connection.execute(
                    "UPDATE product_images SET is_primary = false WHERE product_id = %s AND is_primary",
                    (product_id,),
                )
            with domain_errors():
                image_id = await _insert_returning_id(
                    uow,
                    "product_images",
                    tenant_id,
                    {
                        "product_id": product_id,
                        "url": url,
                        "alt_text": alt_text,
                        "position": position,
                        "is_primary": primary or count == 0,
                    },
                )
            await uow.append_event(
                Aggregate.PRODUCT, product_id, Event.PRODUCT_IMAGE_ADDED, {"url": url}
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [product_id])
        return image_id

    async def set_primary_image(self, tenant_id: UUID, image_id: UUID) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT product_id FROM product_images WHERE id = %s", (image_id,)
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("image not found")
            await _lock_product(uow, row[0])
            await uow.connection.execute(
                "UPDATE product_images SET is_primary = (id = %s) WHERE product_id = %s",
                (image_id, row[0]),
            )
            await uow.append_event(
                Aggregate.PRODUCT, row[0], Event.PRODUCT_PRIMARY_IMAGE_SET, {"image_id": image_id}
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [row[0]])

    async def remove_image(self, tenant_id: UUID, image_id: UUID) -> None:
        """Remove an image; if it was the primary, the next by position becomes primary."""
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "DELETE FROM product_images WHERE id = %s RETURNING product_id, is_primary",
                (image_id,),
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("image not found")
            product_id, was_primary = row
            if was_primary:
                await uow.connection.execute(
                    "UPDATE product_images SET is_primary = true WHERE id = ("
                    " SELECT id FROM product_images WHERE product_id = %s"
                    " ORDER BY position, created_at LIMIT 1)",
                    (product_id,),
                )
            await uow.append_event(
                Aggregate.PRODUCT, product_id, Event.PRODUCT_IMAGE_REMOVED, {"image_id": image_id}
            )
            await uow.commit()
        await self.listener.products_changed(tenant_id, [product_id])

    async def product(self, tenant_id: UUID, *, product_id: UUID | None = None,
                      slug: str | None = None) -> dict[str, Any]:  # fmt: skip
        """A product with its variants, attributes, images, category path and rating summary."""
        if (product_id is None) == (slug is None):
            raise ValidationError("give a product id or a slug", field="product_id")
        async with self._database.unit_of_work(tenant_id) as uow:
            connection = uow.connection
            async with connection.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(
                    "SELECT * FROM products WHERE "
                    + ("id = %s" if product_id is not None else "slug = %s"),
                    (product_id if product_id is not None else slug,),
                )
                product = await cursor.fetchone()
                if product is None:
                    raise NotFoundError("product not found")
                # The page is what shoppers see: the shop's purchase cost is not on it.
                product = without_purchase_cost(product)
                for internal in ("search_vector", "tenant_id"):
                    product.pop(internal, None)
                pid = product["id"]
                await cursor.execute(
                    "SELECT id, title, sku, price, compare_price, options, inventory_quantity,"
                    " inventory_policy, position, is_active FROM product_variants"
                    " WHERE product_id = %s ORDER BY position, sku",
                    (pid,),
                )
                product["variants"] = await cursor.fetchall()
                await cursor.execute(
                    "SELECT name, value, type FROM product_attributes WHERE product_id = %s"
                    " ORDER BY name",
                    (pid,),
                )
                product["attributes"] = await cursor.fetchall()
                await cursor.execute(
                    "SELECT id, url, alt_text, position, is_primary FROM product_images"
                    " WHERE product_id = %s ORDER BY position",
                    (pid,),
                )
                product["images"] = await cursor.fetchall()
                await cursor.execute(CATEGORY_PATH, (product["category_id"],))
                product["category_path"] = [row["name"] for row in await cursor.fetchall()]
                await cursor.execute(
                    "SELECT count(*) AS count, round(avg(rating), 2) AS average FROM reviews"
                    " WHERE product_id = %s AND is_approved",
                    (pid,),
                )
                product["rating"] = await cursor.fetchone()
        return product

    async def owner_vendor(
        self, tenant_id: UUID, *, product_id: UUID | None = None, variant_id: UUID | None = None,
        image_id: UUID | None = None,
    ) -> UUID:  # fmt: skip
        """The vendor a product, variant or image belongs to (who may manage it)."""
        if product_id is not None:
            statement, key, what = (
                "SELECT vendor_id FROM products WHERE id = %s",
                product_id,
                "product",
            )
        elif variant_id is not None:
            statement, key, what = _VENDOR_OF_VARIANT, variant_id, "variant"
        elif image_id is not None:
            statement, key, what = _VENDOR_OF_IMAGE, image_id, "image"
        else:
            raise ValidationError("give a product, variant or image id", field="product_id")
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(statement, (key,))
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError(f"{what} not found")
        return UUID(str(row[0]))

    async def list_products(self, tenant_id: UUID, query: ProductQuery) -> Page:
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        sort = query.sort
        text = (query.text or "").strip()
        if sort == "relevance" and not text:
            raise ValidationError("sorting by relevance needs a search text", field="sort")
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        rank = sql.SQL("NULL::real")
        if text:
            rank = sql.SQL("ts_rank_cd(p.search_vector, websearch_to_tsquery('simple', %s))")
            params.append(text)
            conditions.append(sql.SQL("p.search_vector @@ websearch_to_tsquery('simple', %s)"))
            params.append(text)
        if query.status is not None:
            conditions.append(sql.SQL("p.status = %s"))
            params.append(str(query.status))
        if query.category_id is not None:
            conditions.append(sql.SQL("p.category_id IN (" + CATEGORY_SUBTREE + ")"))
            params.append(query.category_id)
        for column, value in (("brand_id", query.brand_id), ("vendor_id", query.vendor_id)):
            if value is not None:
                conditions.append(sql.SQL("p.{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if query.min_price is not None:
            conditions.append(sql.SQL("p.price >= %s"))
            params.append(query.min_price)
        if query.max_price is not None:
            conditions.append(sql.SQL("p.price <= %s"))
            params.append(query.max_price)
        for name, wanted in query.attributes:
            conditions.append(
                sql.SQL(
                    "EXISTS (SELECT 1 FROM product_attributes a WHERE a.tenant_id = p.tenant_id"
                    " AND a.product_id = p.id AND a.name = %s AND a.value = %s)"
                )
            )
            params.extend([name, wanted])

        expression, direction = _SORTS[sort]
        outer: list[sql.Composable] = []
        if query.cursor:
            value, after_id = _decode_cursor(query.cursor, sort)
            comparison = sql.SQL("<" if direction == "DESC" else ">")
            outer.append(
                sql.SQL("({}, id) {} (%s, %s)").format(
                    sql.SQL(expression.removeprefix("p.")), comparison
                )
            )
            params.extend([value, after_id])
        statement = sql.SQL(
            """
            SELECT * FROM (
                SELECT p.id, p.name, p.slug, p.sku, p.price, p.compare_price, p.status,
                       p.category_id, p.brand_id, p.vendor_id,
                       (SELECT i.url FROM product_images i WHERE i.tenant_id = p.tenant_id
                          AND i.product_id = p.id AND i.is_primary) AS image_url,
                       p.created_at, {rank} AS rank
                  FROM products p
                 WHERE {where}
            ) listed
            WHERE {outer}
            ORDER BY {order} {direction}, id {direction}
            LIMIT %s
            """
        ).format(
            rank=rank,
            where=sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true"),
            outer=sql.SQL(" AND ").join(outer) if outer else sql.SQL("true"),
            order=sql.SQL(expression.removeprefix("p.")),
            direction=sql.SQL(direction),
        )
        params.append(query.limit + 1)
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(statement, params)
            rows = [ProductSummary(*row) for row in await cursor.fetchall()]
        items = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit:
            last = items[-1]
            key = {
                "newest": last.created_at,
                "price_asc": last.price,
                "price_desc": last.price,
                "name": last.name,
                "relevance": last.rank,
            }[sort]
            next_cursor = _encode_cursor(key, last.id)
        return Page(items, next_cursor)


async def _insert_returning_id(
    uow: UnitOfWork, table: str, tenant_id: UUID, values: dict[str, Any]
) -> UUID:
    columns = ["tenant_id", *values]
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    cursor = await uow.connection.execute(statement, (tenant_id, *values.values()))
    row = await cursor.fetchone()
    assert row is not None
    return UUID(str(row[0]))


async def _update_by_id(
    uow: UnitOfWork, table: str, row_id: UUID, changes: dict[str, Any], what: str,
    returning: str = "id",
) -> Any:  # fmt: skip
    if changes:
        statement = sql.SQL("UPDATE {} SET {} WHERE id = %s RETURNING {}").format(
            sql.Identifier(table),
            sql.SQL(", ").join(
                sql.SQL("{} = %s").format(sql.Identifier(column)) for column in changes
            ),
            sql.Identifier(returning),
        )
    else:  # nothing to change: still say whether the row exists
        statement = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(
            sql.Identifier(returning), sql.Identifier(table)
        )
    cursor = await uow.connection.execute(statement, (*changes.values(), row_id))
    row = await cursor.fetchone()
    if row is None:
        raise NotFoundError(f"{what} not found")
    return row[0]


async def _upsert_attribute(
    uow: UnitOfWork, product_id: UUID, name: str, value: object, kind: str
) -> None:
    if not name.strip():
        raise ValidationError("attribute name must not be blank", field="name")
    text = normalise_attribute(kind, value)
    await uow.connection.execute(
        "INSERT INTO product_attributes (tenant_id, product_id, name, value, type)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, product_id, name)"
        " DO UPDATE SET value = EXCLUDED.value, type = EXCLUDED.type",
        (uow.tenant_id, product_id, name.strip(), text, kind),
    )


async def _lock_product(uow: UnitOfWork, product_id: UUID) -> None:
    """Serialise changes to one product's images (the primary-image rule spans rows)."""
    cursor = await uow.connection.execute(
        "SELECT 1 FROM products WHERE id = %s FOR NO KEY UPDATE", (product_id,)
    )
    if await cursor.fetchone() is None:
        raise NotFoundError("product not found")
