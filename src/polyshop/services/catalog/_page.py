"""The product page read from PostgreSQL, and who owns a product, variant or image."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.rows import dict_row

from polyshop.adapters.postgres import CATEGORY_PATH
from polyshop.domain.catalog import without_purchase_cost
from polyshop.domain.errors import NotFoundError, ValidationError
from polyshop.services.catalog._change import CatalogBase

_VENDOR_OF_VARIANT = (
    "SELECT p.vendor_id FROM product_variants v JOIN products p"
    " ON p.tenant_id = v.tenant_id AND p.id = v.product_id WHERE v.id = %s"
)
_VENDOR_OF_IMAGE = (
    "SELECT p.vendor_id FROM product_images i JOIN products p"
    " ON p.tenant_id = i.tenant_id AND p.id = i.product_id WHERE i.id = %s"
)


class ProductPage(CatalogBase):
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
                for internal in ("search_vector", "price_cents", "tenant_id"):
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
