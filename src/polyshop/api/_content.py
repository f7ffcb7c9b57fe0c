"""Content pages over HTTP: published pages for everyone, drafts and publishing for editors."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, status
from pydantic import Field

from polyshop.api._common import PROBLEMS, Model, Slug
from polyshop.api._context import Allowed, Principal, Services, Tenant, rate_limit
from polyshop.domain.identity import Permission
from polyshop.services.content import ContentPage

router = APIRouter(tags=["content"], responses=PROBLEMS, dependencies=[Depends(rate_limit)])

Editor = Annotated[Principal, Depends(Allowed(Permission.WRITE_CONTENT))]
PageType = Literal["page", "blog_post", "faq", "policy"]
PageStatus = Literal["draft", "published", "archived"]
Title = Annotated[str, Field(min_length=1, max_length=255)]
Body = Annotated[str, Field(max_length=200_000)]


class PageIn(Model):
    title: Title
    content: Body
    slug: Slug | None = None
    page_type: PageType = "page"
    excerpt: Annotated[str, Field(max_length=1000)] | None = None


class PagePatch(Model):
    title: Title | None = None
    content: Body | None = None
    slug: Slug | None = None
    page_type: PageType | None = None
    excerpt: Annotated[str, Field(max_length=1000)] | None = None
    seo_title: Annotated[str, Field(max_length=255)] | None = None
    seo_description: Annotated[str, Field(max_length=1000)] | None = None


class PageStatusIn(Model):
    status: PageStatus


@router.get("/pages", response_model=list[ContentPage])
async def published_pages(
    container: Services, tenant_id: Tenant, page_type: PageType | None = None
) -> Any:
    return await container.content.list(tenant_id, page_type=page_type)


@router.get("/pages/{slug}", response_model=ContentPage)
async def published_page(slug: Slug, container: Services, tenant_id: Tenant) -> Any:
    return await container.content.published(tenant_id, slug)


@router.get("/content/pages", response_model=list[ContentPage])
async def all_pages(
    container: Services, tenant_id: Tenant, _: Editor, page_type: PageType | None = None,
    status_filter: Annotated[PageStatus | None, Query(alias="status")] = None,
) -> Any:  # fmt: skip
    return await container.content.list(tenant_id, page_type=page_type, status=status_filter)


@router.post("/content/pages", status_code=status.HTTP_201_CREATED, response_model=ContentPage)
async def create_page(body: PageIn, container: Services, tenant_id: Tenant, who: Editor) -> Any:
    return await container.content.create(tenant_id, **body.model_dump(), author=who.user_id)


@router.patch("/content/pages/{page_id}", status_code=status.HTTP_204_NO_CONTENT)
async def edit_page(
    page_id: UUID, body: PagePatch, container: Services, tenant_id: Tenant, who: Editor
) -> None:
    await container.content.edit(
        tenant_id, page_id, editor=who.user_id, **body.model_dump(exclude_none=True)
    )


@router.put("/content/pages/{page_id}/status", status_code=status.HTTP_204_NO_CONTENT)
async def move_page(
    page_id: UUID, body: PageStatusIn, container: Services, tenant_id: Tenant, who: Editor
) -> None:
    content = container.content
    move = {"published": content.publish, "draft": content.unpublish, "archived": content.archive}
    await move[body.status](tenant_id, page_id, editor=who.user_id)
