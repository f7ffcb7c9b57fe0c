"""Use cases of the platform operator: create and list tenants (shops)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from polyshop.adapters.postgres import Database
from polyshop.adapters.postgres import tenant_sql as tenants_sql
from polyshop.domain.errors import ConfigurationError, ValidationError
from polyshop.domain.events import Aggregate, Event
from polyshop.domain.pricing import PricingRules
from polyshop.domain.tenancy import Tenant, TenantStatus, normalise_currency, normalise_slug
from polyshop.services.payments import check_payment_settings


class TenantService:
    """Reads go through the application's pool; writes through the platform operator's, whose
    role may change shops only through the platform_* functions (docs/schema.md)."""

    def __init__(self, database: Database, platform: Database | None = None) -> None:
        self._database = database
        self._platform = platform

    def _platform_database(self) -> Database:
        if self._platform is None:
            raise ConfigurationError(
                "POLYSHOP_POSTGRES_PLATFORM_URL: creating or changing shops needs the platform "
                "login (or POLYSHOP_POSTGRES_ADMIN_URL)"
            )
        return self._platform

    async def create(
        self, slug: str, name: str, *, currency: str = "USD", domains: tuple[str, ...] = ()
    ) -> Tenant:
        slug = normalise_slug(slug)
        currency = normalise_currency(currency)
        if not name.strip():
            raise ValidationError("name must not be blank", field="name")
        async with self._platform_database().unit_of_work() as uow:
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
        async with self._platform_database().unit_of_work(tenant_id) as uow:
            await tenants_sql.update_settings(uow.connection, tenant_id, settings)
            await uow.append_event(Aggregate.TENANT, tenant_id, Event.TENANT_CONFIGURED, {})
            await uow.commit()

    async def set_status(self, tenant_id: UUID, status: TenantStatus) -> None:
        """Suspend, close or reopen a shop (a suspended shop's domains stop resolving)."""
        async with self._platform_database().unit_of_work(tenant_id) as uow:
            await tenants_sql.update_status(uow.connection, tenant_id, status)
            await uow.append_event(
                Aggregate.TENANT, tenant_id, Event.TENANT_STATUS_CHANGED, {"status": status}
            )
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
