"""Use cases of the platform operator: create and list tenants (shops)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from polyshop.adapters.postgres import Database
from polyshop.adapters.postgres import tenant_sql as tenants_sql
from polyshop.domain.errors import NotFoundError, ValidationError
from polyshop.domain.events import Aggregate, Event
from polyshop.domain.pricing import PricingRules
from polyshop.domain.tenancy import Tenant, normalise_currency, normalise_slug
from polyshop.services.payments import check_payment_settings


class TenantService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def create(
        self, slug: str, name: str, *, currency: str = "USD", domains: tuple[str, ...] = ()
    ) -> Tenant:
        slug = normalise_slug(slug)
        currency = normalise_currency(currency)
        if not name.strip():
            raise ValidationError("name must not be blank", field="name")
        async with self._database.unit_of_work() as uow:
            tenant = await tenants_sql.insert_tenant(
                uow.connection, slug=slug, name=name.strip(), currency=currency
            )
            await uow.set_tenant(tenant.id)
            for hostname in domains:
                await tenants_sql.insert_domain(uow.connection, tenant.id, hostname)
            await uow.append_event(
                Aggregate.TENANT,
                tenant.id,
                Event.TENANT_CREATED,
                {"slug": tenant.slug, "name": tenant.name, "currency": tenant.currency},
            )
            await uow.commit()
        return tenant

    async def configure(self, tenant_id: UUID, settings: dict[str, Any]) -> None:
        """Replace the shop's checkout rules (tax, shipping, discounts) and its payment gateway
        (`{"payments": {"gateway": "stripe"}}`), validated first."""
        PricingRules.from_settings(settings)
        check_payment_settings(settings)
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "UPDATE tenants SET settings = %s WHERE id = %s", (Jsonb(settings), tenant_id)
            )
            if cursor.rowcount == 0:
                raise NotFoundError("tenant not found")
            await uow.append_event(Aggregate.TENANT, tenant_id, Event.TENANT_CONFIGURED, {})
            await uow.commit()

    async def list(self) -> list[Tenant]:
        async with self._database.unit_of_work() as uow:
            return await tenants_sql.select_tenants(uow.connection)

    async def get(self, slug: str) -> Tenant:
        async with self._database.unit_of_work() as uow:
            return await tenants_sql.select_tenant_by_slug(uow.connection, normalise_slug(slug))

    async def resolve_hostname(self, hostname: str) -> UUID | None:
        async with self._database.unit_of_work() as uow:
            return await tenants_sql.tenant_for_hostname(uow.connection, hostname)
