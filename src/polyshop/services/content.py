"""Content pages: drafts, publishing and archiving, per-tenant slugs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from polyshop.adapters.postgres import Database, domain_errors
from polyshop.domain.catalog import slugify
from polyshop.domain.errors import InvalidTransitionError, NotFoundError, ValidationError
from polyshop.domain.events import Aggregate, Event, content_moved_to

PageType = Literal["page", "blog_post", "faq", "policy"]
PageStatus = Literal["draft", "published", "archived"]

_LIFECYCLE: dict[str, set[str]] = {
    "draft": {"published", "archived"},
    "published": {"draft", "archived"},
    "archived": {"draft"},
}
_FIELDS = {"title", "slug", "content", "excerpt", "page_type", "seo_title", "seo_description"}


@dataclass(frozen=True, slots=True)
class ContentPage:
    id: UUID
    title: str
    slug: str
    content: str
    excerpt: str | None
    status: str
    page_type: str
    published_at: datetime | None


_COLUMNS = "id, title, slug, content, excerpt, status, page_type, published_at"


class ContentService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(
        self, tenant_id: UUID, title: str, content: str, *, slug: str | None = None,
        page_type: PageType = "page", excerpt: str | None = None, author: UUID | None = None,
    ) -> ContentPage:  # fmt: skip
        if not title.strip():
            raise ValidationError("title must not be blank", field="title")
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                cursor = await uow.connection.execute(
                    "INSERT INTO content_pages (tenant_id, title, slug, content, excerpt, page_type,"
                    " created_by, updated_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    f" RETURNING {_COLUMNS}",
                    (tenant_id, title, slug or slugify(title), content, excerpt, page_type, author,
                     author),
                )  # fmt: skip
            page = ContentPage(*await cursor.fetchone())  # type: ignore[misc]
            await uow.append_event(
                Aggregate.CONTENT_PAGE, page.id, Event.CONTENT_CREATED, {"slug": page.slug}
            )
            await uow.commit()
        return page

    async def edit(
        self, tenant_id: UUID, page_id: UUID, *, editor: UUID | None = None, **changes: str
    ) -> None:
        unknown = set(changes) - _FIELDS
        if unknown:
            raise ValidationError(f"cannot change {', '.join(sorted(unknown))}", field=min(unknown))
        if not changes:
            return
        assignments = ", ".join(f"{column} = %s" for column in changes)
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                cursor = await uow.connection.execute(
                    f"UPDATE content_pages SET {assignments}, updated_by = %s WHERE id = %s",
                    (*changes.values(), editor, page_id),
                )
            if cursor.rowcount == 0:
                raise NotFoundError("page not found")
            await uow.append_event(
                Aggregate.CONTENT_PAGE, page_id, Event.CONTENT_EDITED, {"fields": sorted(changes)}
            )
            await uow.commit()

    async def publish(self, tenant_id: UUID, page_id: UUID, *, editor: UUID | None = None) -> None:
        """Publish; the first publication date is kept when a page is republished."""
        await self._move(tenant_id, page_id, "published", editor)

    async def unpublish(
        self, tenant_id: UUID, page_id: UUID, *, editor: UUID | None = None
    ) -> None:
        await self._move(tenant_id, page_id, "draft", editor)

    async def archive(self, tenant_id: UUID, page_id: UUID, *, editor: UUID | None = None) -> None:
        await self._move(tenant_id, page_id, "archived", editor)

    async def _move(self, tenant_id: UUID, page_id: UUID, target: str, editor: UUID | None) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT status FROM content_pages WHERE id = %s FOR UPDATE", (page_id,)
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("page not found")
            if target not in _LIFECYCLE[row[0]]:
                raise InvalidTransitionError(f"a {row[0]} page cannot become {target}")
            await uow.connection.execute(
                "UPDATE content_pages SET status = %s, updated_by = %s,"
                " published_at = CASE WHEN %s = 'published' THEN coalesce(published_at, now())"
                " ELSE published_at END WHERE id = %s",
                (target, editor, target, page_id),
            )
            await uow.append_event(
                Aggregate.CONTENT_PAGE, page_id, content_moved_to(target), {"from": row[0]}
            )
            await uow.commit()

    async def published(self, tenant_id: UUID, slug: str) -> ContentPage:
        """A page as the public sees it: only when published."""
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                f"SELECT {_COLUMNS} FROM content_pages WHERE slug = %s AND status = 'published'",
                (slug,),
            )
            row = await cursor.fetchone()
        if row is None:
            raise NotFoundError(f"no published page {slug!r}")
        return ContentPage(*row)

    async def list(
        self, tenant_id: UUID, *, page_type: PageType | None = None,
        status: PageStatus | None = "published",
    ) -> list[ContentPage]:  # fmt: skip
        conditions: list[str] = []
        params: list[str] = []
        if page_type is not None:
            conditions.append("page_type = %s")
            params.append(page_type)
        if status is not None:
            conditions.append("status = %s")
            params.append(status)
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                f"SELECT {_COLUMNS} FROM content_pages{where}"
                " ORDER BY published_at DESC NULLS LAST, created_at DESC",
                params,
            )
            return [ContentPage(*row) for row in await cursor.fetchall()]
