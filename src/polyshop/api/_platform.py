"""The platform operator's API: shops (tenants), their checkout rules and first admin.
Authenticated by the platform admin token (POLYSHOP_PLATFORM_ADMIN_TOKEN), not a shop session."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response, status
from pydantic import Field

from polyshop.api._accounts import Registration
from polyshop.api._common import PROBLEMS, Model, MoneyIn, Name, Slug
from polyshop.api._context import Services, platform_admin
from polyshop.domain.identity import Role
from polyshop.domain.tenancy import Tenant
from polyshop.services.customers import User

router = APIRouter(
    prefix="/platform", tags=["platform"], responses=PROBLEMS,
    dependencies=[Depends(platform_admin)],
)  # fmt: skip

Hostname = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")]


Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,50}$")]
Country = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]
Rate = Annotated[
    str, Field(pattern=r"^(0(\.\d{1,6})?|1(\.0{1,6})?)$", examples=["0.0825"],
               description="A rate from 0 to 1, as a decimal string")
]  # fmt: skip


class TaxIn(Model):
    default_rate: Rate = "0"
    rates: dict[Country, Rate] = Field(default_factory=dict, max_length=300)
    shipping_taxable: bool = False


class ShippingIn(Model):
    price: MoneyIn
    free_over: MoneyIn | None = None


class DiscountIn(Model):
    type: Literal["percent", "fixed"]
    value: MoneyIn = Field(description="Percent (more than 0, at most 100) or an amount (> 0).")
    min_subtotal: MoneyIn = "0"


class PaymentsIn(Model):
    gateway: Literal["test", "stripe"]


class ShopSettingsIn(Model):
    """A shop's checkout rules and payment gateway. Checked completely when written; checkout
    checks them again when it reads them (a stored document that fails refuses sales with a
    409)."""

    tax: TaxIn = Field(default_factory=TaxIn)
    shipping: dict[Code, ShippingIn] = Field(default_factory=dict, max_length=50)
    discounts: dict[Code, DiscountIn] = Field(default_factory=dict, max_length=1000)
    payments: PaymentsIn | None = Field(
        default=None, description="The shop's payment gateway (else the platform's default)."
    )


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
async def configure_tenant(slug: Slug, body: ShopSettingsIn, container: Services) -> None:
    """Replace the shop's checkout rules (tax, shipping, discounts) and payment gateway
    (`payments.gateway`); validated before saving."""
    tenant = await container.tenants.get(slug)
    await container.tenants.configure(tenant.id, body.model_dump(exclude_none=True))


@router.post("/tenants/{slug}/admins", status_code=status.HTTP_201_CREATED, response_model=User)
async def create_shop_admin(slug: Slug, body: Registration, container: Services) -> Any:
    """Open a shop admin account (a new shop's first, or one more)."""
    tenant = await container.tenants.get(slug)
    return await container.customers.register(
        tenant.id, **body.model_dump(), role=Role.TENANT_ADMIN
    )
