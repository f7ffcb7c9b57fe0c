"""Reviews over HTTP: public approved reviews and ratings, writing (customers), helpful
votes, and moderation (shop admins)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, status
from pydantic import Field

from polyshop.api._common import PROBLEMS, Limit, Model, Money
from polyshop.api._context import (
    Allowed,
    MaybePrincipal,
    Principal,
    Services,
    SignedIn,
    Tenant,
    rate_limit,
)
from polyshop.domain.identity import Permission
from polyshop.services.reviews import PUBLIC, Review, Viewer

router = APIRouter(tags=["reviews"], responses=PROBLEMS, dependencies=[Depends(rate_limit)])

Reviewer = Annotated[Principal, Depends(Allowed(Permission.WRITE_REVIEWS))]
Moderator = Annotated[Principal, Depends(Allowed(Permission.MODERATE_REVIEWS))]


class ReviewIn(Model):
    rating: int = Field(ge=1, le=5)
    title: Annotated[str, Field(max_length=255)] | None = None
    content: Annotated[str, Field(max_length=10_000)] | None = None
    order_id: UUID | None = None


class RatingOut(Model):
    count: int
    average: Money | None
    distribution: dict[str, int]


class HelpfulOut(Model):
    helpful_count: int


def _viewer(principal: Principal | None) -> Viewer:
    return PUBLIC if principal is None else Viewer(principal.role, principal.vendor_id)


@router.get("/products/{product_id}/reviews", response_model=list[Review])
async def product_reviews(
    product_id: UUID, container: Services, tenant_id: Tenant, who: MaybePrincipal
) -> Any:
    """Approved reviews of a product the caller can see (404 for a hidden product)."""
    return await container.reviews.for_product(tenant_id, product_id, viewer=_viewer(who))


@router.get("/products/{product_id}/rating", response_model=RatingOut)
async def product_rating(
    product_id: UUID, container: Services, tenant_id: Tenant, who: MaybePrincipal
) -> Any:
    summary = await container.reviews.summary(tenant_id, product_id, viewer=_viewer(who))
    average: Decimal | None = summary.average
    return {
        "count": summary.count,
        "average": average,
        "distribution": {str(k): v for k, v in summary.distribution.items()},
    }


@router.post(
    "/products/{product_id}/reviews", status_code=status.HTTP_201_CREATED, response_model=Review
)
async def write_review(
    product_id: UUID, body: ReviewIn, container: Services, tenant_id: Tenant, who: Reviewer
) -> Any:
    """A review awaiting moderation; verified when it belongs to a delivered order."""
    return await container.reviews.write(
        tenant_id, who.user_id, product_id, body.rating, title=body.title, content=body.content,
        order_id=body.order_id, viewer=_viewer(who),
    )  # fmt: skip


@router.post("/reviews/{review_id}/helpful", response_model=HelpfulOut)
async def mark_helpful(
    review_id: UUID, container: Services, tenant_id: Tenant, who: SignedIn
) -> Any:
    """Count the caller's vote once (again: the same count); not for their own review."""
    count = await container.reviews.mark_helpful(
        tenant_id, review_id, who.user_id, viewer=_viewer(who)
    )
    return {"helpful_count": count}


@router.get("/reviews/pending", response_model=list[Review])
async def moderation_queue(
    container: Services, tenant_id: Tenant, _: Moderator, limit: Limit = 50
) -> Any:
    return await container.reviews.moderation_queue(tenant_id, limit=limit)


@router.put("/reviews/{review_id}/approval", status_code=status.HTTP_204_NO_CONTENT)
async def approve_review(
    review_id: UUID, container: Services, tenant_id: Tenant, _: Moderator
) -> None:
    await container.reviews.approve(tenant_id, review_id)


@router.delete("/reviews/{review_id}", status_code=status.HTTP_204_NO_CONTENT)
async def reject_review(
    review_id: UUID, container: Services, tenant_id: Tenant, _: Moderator
) -> None:
    await container.reviews.reject(tenant_id, review_id)
