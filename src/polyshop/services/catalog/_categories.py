"""The category tree, brands and vendors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import sql

from polyshop.adapters.postgres import CATEGORY_SUBTREE
from polyshop.domain.catalog import slugify
from polyshop.domain.errors import NotFoundError
from polyshop.domain.events import Aggregate, Event, created
from polyshop.services.catalog._change import CatalogBase
from polyshop.services.catalog._model import Brand, Category, Vendor


class CategoryCommands(CatalogBase):
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
        async with self._change(tenant_id) as uow:
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
        return Category(row[0], name, slug, parent_id, sort_order, True)

    async def move_category(
        self, tenant_id: UUID, category_id: UUID, parent_id: UUID | None
    ) -> None:
        """Re-parent a category; moving it under itself or a descendant is refused."""
        async with self._change(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "UPDATE categories SET parent_id = %s WHERE id = %s", (parent_id, category_id)
            )
            if cursor.rowcount == 0:
                raise NotFoundError("category not found")
            await uow.append_event(
                Aggregate.CATEGORY, category_id, Event.CATEGORY_MOVED, {"parent_id": parent_id}
            )

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
        async with self._change(tenant_id) as uow:
            cursor = await uow.connection.execute(
                statement, (tenant_id, name, slug, *extra.values())
            )
            row = await cursor.fetchone()
            assert row is not None
            await uow.append_event(kind, row[0], created(kind), {"name": name, "slug": slug})
        return UUID(str(row[0]))
