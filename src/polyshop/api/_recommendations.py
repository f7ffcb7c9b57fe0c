"""Recommendations over HTTP: for a product (four kinds, cached in Redis) and for the signed-in
customer. Only products for sale, only the caller's shop; every item says why."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from polyshop.api._common import PROBLEMS
from polyshop.api._context import Services, SignedIn, Tenant, rate_limit
from polyshop.services.recommendations import MAX_LIMIT, kind_of

router = APIRouter(tags=["recommendations"], responses=PROBLEMS, dependencies=[Depends(rate_limit)])

RecommendationLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


class RecommendationOut(BaseModel):
    product_id: UUID
    name: str
    score: float = Field(description="the recommender's weight; higher ranks first")
    reason: str = Field(examples=["bought together 42 times"])


@router.get("/products/{product_id}/recommendations", response_model=list[RecommendationOut])
async def product_recommendations(
    product_id: UUID, container: Services, tenant_id: Tenant,
    kind: Annotated[str, Query(description="bought_together, also_bought, similar or trending")]
    = "bought_together",
    limit: RecommendationLimit = 10,
) -> Any:  # fmt: skip
    return await container.recommendations.for_product(tenant_id, product_id, kind_of(kind), limit)


@router.get("/me/recommendations", response_model=list[RecommendationOut])
async def my_recommendations(
    container: Services, tenant_id: Tenant, who: SignedIn, limit: RecommendationLimit = 10
) -> Any:
    return await container.recommendations.for_customer(tenant_id, who.user_id, limit)
