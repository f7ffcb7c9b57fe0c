"""Product commands: create, change, lifecycle, variants, attributes and images."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from polyshop.adapters.postgres import UnitOfWork
from polyshop.domain.catalog import ProductStatus, check_product_transition, slugify
from polyshop.domain.errors import NotFoundError, ValidationError
from polyshop.domain.events import Aggregate, Event
from polyshop.domain.money import parse_money
from polyshop.services._inventory_ledger import record_movement
from polyshop.services.catalog._change import (
    CatalogBase,
    insert_returning_id,
    lock_product,
    money_or_none,
    update_by_id,
    upsert_attribute,
)
from polyshop.services.catalog._model import ProductDraft, VariantDraft

_PRODUCT_FIELDS = (
    "name", "slug", "description", "short_description", "sku", "price", "compare_price",
    "cost_price", "weight", "dimensions", "category_id", "brand_id", "vendor_id",
    "inventory_tracking", "inventory_policy", "low_stock_threshold", "requires_shipping",
    "taxable", "seo_title", "seo_description",
)  # fmt: skip
_MONEY_FIELDS = {"price", "compare_price", "cost_price", "weight"}
_VARIANT_FIELDS = ("title", "sku", "price", "compare_price", "options", "inventory_policy",
                   "position", "is_active")  # fmt: skip


class ProductCommands(CatalogBase):
    # -- products ----------------------------------------------------------------------------

    async def create_product(self, tenant_id: UUID, draft: ProductDraft) -> UUID:
        values = {
            "name": draft.name,
            "slug": draft.slug or slugify(draft.name),
            "sku": draft.sku,
            "price": parse_money(draft.price, field="price"),
            "compare_price": money_or_none(draft.compare_price, "compare_price"),
            "cost_price": money_or_none(draft.cost_price, "cost_price"),
            "weight": money_or_none(draft.weight, "weight"),
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
        async with self._change(tenant_id) as uow:
            product_id = await insert_returning_id(uow, "products", tenant_id, values)
            if draft.initial_stock:
                await record_movement(
                    uow, product_id, None, draft.initial_stock, "in", reason="initial stock"
                )
            for variant in draft.variants:
                await self._insert_variant(uow, product_id, variant)
            for name, value, kind in draft.attributes:
                await upsert_attribute(uow, product_id, name, value, kind)
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
        return product_id

    async def update_product(self, tenant_id: UUID, product_id: UUID, **changes: Any) -> None:
        unknown = set(changes) - set(_PRODUCT_FIELDS)
        if unknown:
            raise ValidationError(f"cannot change {', '.join(sorted(unknown))}", field=min(unknown))
        if not changes:
            return
        for name in _MONEY_FIELDS & set(changes):
            changes[name] = money_or_none(changes[name], name)
        if "dimensions" in changes and changes["dimensions"] is not None:
            changes["dimensions"] = Jsonb(changes["dimensions"])
        async with self._change(tenant_id) as uow:
            await update_by_id(uow, "products", product_id, changes, "product")
            await uow.append_event(
                Aggregate.PRODUCT, product_id, Event.PRODUCT_UPDATED, {"fields": sorted(changes)}
            )

    async def change_status(self, tenant_id: UUID, product_id: UUID, target: ProductStatus) -> None:
        async with self._change(tenant_id) as uow:
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

    async def add_variant(self, tenant_id: UUID, product_id: UUID, variant: VariantDraft) -> UUID:
        async with self._change(tenant_id) as uow:
            variant_id = await self._insert_variant(uow, product_id, variant)
            await uow.append_event(
                Aggregate.PRODUCT,
                product_id,
                Event.PRODUCT_VARIANT_ADDED,
                {"variant_id": variant_id},
            )
        return variant_id

    async def update_variant(self, tenant_id: UUID, variant_id: UUID, **changes: Any) -> None:
        unknown = set(changes) - set(_VARIANT_FIELDS)
        if unknown:
            raise ValidationError(f"cannot change {', '.join(sorted(unknown))}", field=min(unknown))
        for name in {"price", "compare_price"} & set(changes):
            changes[name] = money_or_none(changes[name], name)
        if "options" in changes:
            changes["options"] = Jsonb(changes["options"])
        async with self._change(tenant_id) as uow:
            product_id = await update_by_id(
                uow, "product_variants", variant_id, changes, "variant", returning="product_id"
            )
            await uow.append_event(
                Aggregate.PRODUCT,
                product_id,
                Event.PRODUCT_VARIANT_UPDATED,
                {"variant_id": variant_id},
            )

    async def remove_variant(self, tenant_id: UUID, variant_id: UUID) -> None:
        async with self._change(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "DELETE FROM product_variants WHERE id = %s RETURNING product_id", (variant_id,)
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("variant not found")
            await uow.append_event(
                Aggregate.PRODUCT, row[0], Event.PRODUCT_VARIANT_REMOVED, {"variant_id": variant_id}
            )

    async def _insert_variant(self, uow: UnitOfWork, product_id: UUID, draft: VariantDraft) -> UUID:
        if draft.initial_stock < 0:
            raise ValidationError("initial stock cannot be negative", field="initial_stock")
        variant_id = await insert_returning_id(
            uow,
            "product_variants",
            uow.tenant_id,
            {
                "product_id": product_id,
                "title": draft.title,
                "sku": draft.sku,
                "price": parse_money(draft.price, field="price"),
                "compare_price": money_or_none(draft.compare_price, "compare_price"),
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
        async with self._change(tenant_id) as uow:
            await upsert_attribute(uow, product_id, name, value, kind)
            await uow.append_event(
                Aggregate.PRODUCT, product_id, Event.PRODUCT_ATTRIBUTE_SET, {"name": name}
            )

    async def remove_attribute(self, tenant_id: UUID, product_id: UUID, name: str) -> None:
        async with self._change(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "DELETE FROM product_attributes WHERE product_id = %s AND name = %s",
                (product_id, name),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"attribute {name!r} not found")
            await uow.append_event(
                Aggregate.PRODUCT, product_id, Event.PRODUCT_ATTRIBUTE_REMOVED, {"name": name}
            )

    async def add_image(
        self, tenant_id: UUID, product_id: UUID, url: str, *, alt_text: str | None = None,
        primary: bool = False,
    ) -> UUID:  # fmt: skip
        """Add an image; the first image of a product, or one added as primary, is the primary."""
        async with self._change(tenant_id) as uow:
            await lock_product(uow, product_id)
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
            image_id = await insert_returning_id(
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
        return image_id

    async def set_primary_image(self, tenant_id: UUID, image_id: UUID) -> None:
        async with self._change(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT product_id FROM product_images WHERE id = %s", (image_id,)
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("image not found")
            await lock_product(uow, row[0])
            await uow.connection.execute(
                "UPDATE product_images SET is_primary = (id = %s) WHERE product_id = %s",
                (image_id, row[0]),
            )
            await uow.append_event(
                Aggregate.PRODUCT, row[0], Event.PRODUCT_PRIMARY_IMAGE_SET, {"image_id": image_id}
            )

    async def remove_image(self, tenant_id: UUID, image_id: UUID) -> None:
        """Remove an image; if it was the primary, the next by position becomes primary."""
        async with self._change(tenant_id) as uow:
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
