"""SQL for the platform's tenants table (not tenant-scoped: the platform owns it)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from polyshop.domain.errors import ConflictError, NotFoundError
from polyshop.domain.tenancy import Tenant

_COLUMNS = "id, slug, name, currency, status, created_at"


# Writes go through the platform_* functions (migration 0008): the role that calls them may do
# nothing else to `tenants`, and the request-serving role may not call them at all.


async def insert_tenant(
    connection: psycopg.AsyncConnection[Any], *, slug: str, name: str, currency: str
) -> Tenant:
    async with connection.cursor(row_factory=class_row(Tenant)) as cursor:
        try:
            await cursor.execute(
                f"SELECT {_COLUMNS} FROM platform_create_tenant(%s, %s, %s)",
                (slug, name, currency),
            )
        except psycopg.errors.UniqueViolation:
            raise ConflictError(f"a tenant with slug {slug!r} already exists") from None
        tenant = await cursor.fetchone()
    assert tenant is not None
    return tenant


async def insert_domain(
    connection: psycopg.AsyncConnection[Any], tenant_id: UUID, hostname: str
) -> None:
    try:
        await connection.execute("SELECT platform_add_domain(%s, %s)", (tenant_id, hostname))
    except psycopg.errors.UniqueViolation:
        raise ConflictError(f"the domain {hostname!r} already belongs to a tenant") from None


async def update_settings(
    connection: psycopg.AsyncConnection[Any], tenant_id: UUID, settings: dict[str, Any]
) -> None:
    cursor = await connection.execute(
        "SELECT platform_configure_tenant(%s, %s)", (tenant_id, Jsonb(settings))
    )
    if await cursor.fetchone() != (True,):
        raise NotFoundError("tenant not found")


async def update_status(
    connection: psycopg.AsyncConnection[Any], tenant_id: UUID, status: str
) -> None:
    cursor = await connection.execute(
        "SELECT platform_set_tenant_status(%s, %s)", (tenant_id, status)
    )
    if await cursor.fetchone() != (True,):
        raise NotFoundError("tenant not found")


async def select_tenants(connection: psycopg.AsyncConnection[Any]) -> list[Tenant]:
    async with connection.cursor(row_factory=class_row(Tenant)) as cursor:
        await cursor.execute(f"SELECT {_COLUMNS} FROM tenants ORDER BY created_at, slug")
        return await cursor.fetchall()


async def select_tenant_by_slug(connection: psycopg.AsyncConnection[Any], slug: str) -> Tenant:
    async with connection.cursor(row_factory=class_row(Tenant)) as cursor:
        await cursor.execute(f"SELECT {_COLUMNS} FROM tenants WHERE slug = %s", (slug,))
        tenant = await cursor.fetchone()
    if tenant is None:
        raise NotFoundError(f"no tenant with slug {slug!r}")
    return tenant


async def tenant_for_hostname(
    connection: psycopg.AsyncConnection[Any], hostname: str
) -> UUID | None:
    cursor = await connection.execute("SELECT tenant_for_hostname(%s)", (hostname,))
    row = await cursor.fetchone()
    return row[0] if row else None
