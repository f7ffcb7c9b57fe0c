"""The unit of work: rolls back unless committed, scopes the tenant to its transaction only."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from polyshop.adapters.postgres import Database
from polyshop.bootstrap import StoreUrls
from polyshop.domain.errors import TenantRequiredError
from tests.integration.postgres.graph import Graph


async def _brand_count(database: Database, tenant: uuid.UUID, slug: str) -> int:
    async with database.unit_of_work(tenant) as uow:
        cursor = await uow.connection.execute(
            "SELECT count(*) FROM brands WHERE slug = %s", (slug,)
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _insert_brand(uow: Any, slug: str) -> None:
    await uow.connection.execute(
        "INSERT INTO brands (tenant_id, name, slug) VALUES (%s, %s, %s)",
        (uow.tenant_id, slug, slug),
    )


async def test_without_commit_nothing_is_kept(
    database: Database, graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    slug = f"uncommitted-{uuid.uuid4().hex[:8]}"
    async with database.unit_of_work(alpha.tenant_id) as uow:
        await _insert_brand(uow, slug)
    assert await _brand_count(database, alpha.tenant_id, slug) == 0


async def test_an_exception_rolls_back(database: Database, graphs: tuple[Graph, Graph]) -> None:
    alpha, _ = graphs
    slug = f"failed-{uuid.uuid4().hex[:8]}"
    with pytest.raises(RuntimeError):
        async with database.unit_of_work(alpha.tenant_id) as uow:
            await _insert_brand(uow, slug)
            raise RuntimeError("boom")
    assert await _brand_count(database, alpha.tenant_id, slug) == 0


async def test_commit_keeps_the_write_and_its_outbox_event(
    database: Database, admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    slug = f"kept-{uuid.uuid4().hex[:8]}"
    async with database.unit_of_work(alpha.tenant_id) as uow:
        await _insert_brand(uow, slug)
        await uow.append_event(
            "brand",
            slug,
            "brand.created",
            {"slug": slug, "price": __import__("decimal").Decimal("1.10")},
        )
        await uow.commit()
    assert await _brand_count(database, alpha.tenant_id, slug) == 1
    event = admin.execute(
        "SELECT tenant_id, event_type, payload FROM outbox WHERE aggregate_id = %s", (slug,)
    ).fetchone()
    assert event == (alpha.tenant_id, "brand.created", {"slug": slug, "price": "1.10"})


async def test_an_event_is_never_written_without_its_transaction(
    database: Database, admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    slug = f"ghost-{uuid.uuid4().hex[:8]}"
    async with database.unit_of_work(alpha.tenant_id) as uow:
        await uow.append_event("brand", slug, "brand.created", {"slug": slug})
    assert admin.execute(
        "SELECT count(*) FROM outbox WHERE aggregate_id = %s", (slug,)
    ).fetchone() == (0,)


async def test_an_event_needs_a_tenant(database: Database) -> None:
    async with database.unit_of_work() as uow:
        with pytest.raises(TenantRequiredError):
            await uow.append_event("brand", "x", "brand.created", {})


async def test_the_tenant_does_not_outlive_its_transaction(
    urls: StoreUrls, graphs: tuple[Graph, Graph]
) -> None:
    """One pooled connection, reused: the next unit of work without a tenant sees nothing."""
    alpha, _ = graphs
    single = Database(urls.postgres, min_size=1, max_size=1)
    await single.open()
    try:
        async with single.unit_of_work(alpha.tenant_id) as uow:
            cursor = await uow.connection.execute("SELECT count(*) FROM users")
            assert (await cursor.fetchone()) == (2,)
            await uow.commit()
        async with single.unit_of_work() as uow:
            cursor = await uow.connection.execute(
                "SELECT count(*), current_setting('app.tenant_id', true) FROM users"
            )
            assert (await cursor.fetchone()) == (0, "")
    finally:
        await single.close()
