"""The platform operator's API: shops (tenants), their checkout rules and first admin.
Authenticated by the platform admin token (POLYSHOP_PLATFORM_ADMIN_TOKEN), not a shop session."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from pydantic import Field

from polyshop.api._accounts import Registration
from polyshop.api._common import PROBLEMS, Model, Name, Slug
from polyshop.api._context import Services, platform_admin
from polyshop.domain.identity import Role
from polyshop.domain.tenancy import Tenant
from polyshop.services.customers import User

router = APIRouter(
    prefix="/platform", tags=["platform"], responses=PROBLEMS,
    dependencies=[Depends(platform_admin)],
)  # fmt: skip

Hostname = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")]


class TenantIn(Model):
    slug: Slug
    name: Name
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] = "USD"
    domains: list[Hostname] = Field(default_factory=list, max_length=20)


@router.post("/tenants", status_code=status.HTTP_201_CREATED, response_model=Tenant)
async def create_tenant(body: TenantIn, response: Response, container: Services) -> Any:
    tenant = await container.tenants.create(
        body.slug, body.name, currency=body.currency, domains=tuple(body.domains)
    )
    response.headers["Location"] = f"/platform/tenants/{tenant.slug}"
    return tenant


@router.get("/tenants", response_model=list[Tenant])
async def list_tenants(container: Services) -> Any:
    return await container.tenants.list()


@router.get("/tenants/{slug}", response_model=Tenant)
async def get_tenant(slug: Slug, container: Services) -> Any:
    return await container.tenants.get(slug)


@router.put("/tenants/{slug}/settings", status_code=status.HTTP_204_NO_CONTENT)
async def configure_tenant(slug: Slug, body: dict[str, Any], container: Services) -> None:
    """Replace the shop's checkout rules (tax, shipping, discounts); validated before saving."""
    tenant = await container.tenants.get(slug)
    await container.tenants.configure(tenant.id, body)


@router.post("/tenants/{slug}/admins", status_code=status.HTTP_201_CREATED, response_model=User)
async def create_shop_admin(slug: Slug, body: Registration, container: Services) -> Any:
    """Open a shop admin account (a new shop's first, or one more)."""
    tenant = await container.tenants.get(slug)
    return await container.customers.register(
        tenant.id, **body.model_dump(), role=Role.TENANT_ADMIN
    )
