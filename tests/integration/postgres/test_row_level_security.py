"""Under the application role (and the relay's and platform operator's), a tenant sees and
touches only its own rows; no tenant, nothing. Where a role has no privilege at all on a table,
the database refuses outright (docs/schema.md, "Database roles")."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from polyshop.adapters.postgres import APP_ROLE, PLATFORM_ROLE, RELAY_ROLE, Database
from tests.integration.postgres.graph import Graph, insertable_columns


def _may(admin: psycopg.Connection[Any], table: str, privilege: str, role: str = APP_ROLE) -> bool:
    row = admin.execute("SELECT has_table_privilege(%s, %s, %s)", (role, table, privilege))
    return bool(row.fetchone()[0])  # type: ignore[index]


@pytest.fixture(params=[APP_ROLE, RELAY_ROLE, PLATFORM_ROLE])
def pool(
    request: pytest.FixtureRequest, database: Database, relay_database: Database,
    platform_database: Database,
) -> tuple[str, Database]:  # fmt: skip
    """Each login role with its own pool: the policies hold for all of them."""
    role = str(request.param)
    return role, {APP_ROLE: database, RELAY_ROLE: relay_database,
                  PLATFORM_ROLE: platform_database}[role]  # fmt: skip


def test_ledgers_are_append_only_for_their_writers(admin: psycopg.Connection[Any]) -> None:
    # Analytics events are written by the relay's analytics projector, the rest by requests.
    for table, writer in (
        ("inventory_transactions", APP_ROLE), ("order_events", APP_ROLE), ("outbox", APP_ROLE),
        ("analytics_events", RELAY_ROLE),
    ):  # fmt: skip
        assert _may(admin, table, "INSERT", writer), table
        for role in (APP_ROLE, RELAY_ROLE, PLATFORM_ROLE):
            assert not _may(admin, table, "UPDATE", role), (table, role)
            assert not _may(admin, table, "DELETE", role), (table, role)


def test_every_tenant_table_forces_row_level_security(
    admin: psycopg.Connection[Any], catalog: dict[str, list[Any]]
) -> None:
    tables = catalog["tenant_tables"]
    assert len(tables) >= 22
    rows = admin.execute(
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
               (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
          FROM pg_class c WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace
        """,
        (tables,),
    ).fetchall()
    assert {r[0]: r[1:] for r in rows} == {t: (True, True, 1) for t in tables}


def test_application_role_has_no_way_around_the_policies(admin: psycopg.Connection[Any]) -> None:
    row = admin.execute(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
        (APP_ROLE,),
    ).fetchone()
    assert row == (False, False, False, False)
    owned = admin.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = %s",
        (APP_ROLE,),
    ).fetchone()
    assert owned == (0,)


async def _count(database: Database, tenant: Any, sql: str, params: tuple[Any, ...] = ()) -> int:
    async with database.unit_of_work(tenant) as uow:
        cursor = await uow.connection.execute(sql, params)
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


async def test_a_tenant_reads_only_its_own_rows(
    pool: tuple[str, Database],
    admin: psycopg.Connection[Any],
    graphs: tuple[Graph, Graph],
    catalog: dict[str, list[Any]],
) -> None:
    alpha, beta = graphs
    role, database = pool
    for table in catalog["tenant_tables"]:
        if not _may(admin, table, "SELECT", role):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                await _count(database, alpha.tenant_id, f"SELECT count(*) FROM {table}")
            continue
        own = admin.execute(
            f"SELECT count(*) FROM {table} WHERE tenant_id = %s", (alpha.tenant_id,)
        ).fetchone()
        assert own is not None and own[0] > 0, table
        assert await _count(database, alpha.tenant_id, f"SELECT count(*) FROM {table}") == own[0], (
            table
        )
        other = await _count(
            database,
            alpha.tenant_id,
            f"SELECT count(*) FROM {table} WHERE tenant_id = %s",
            (beta.tenant_id,),
        )
        assert other == 0, table


async def test_without_a_tenant_nothing_is_visible(
    pool: tuple[str, Database], admin: psycopg.Connection[Any], catalog: dict[str, list[Any]]
) -> None:
    role, database = pool
    for table in catalog["tenant_tables"]:
        if not _may(admin, table, "SELECT", role):
            continue  # refused outright: the test above
        assert await _count(database, None, f"SELECT count(*) FROM {table}") == 0, table


async def test_joins_never_cross_tenants(database: Database, graphs: tuple[Graph, Graph]) -> None:
    alpha, beta = graphs
    async with database.unit_of_work(alpha.tenant_id) as uow:
        cursor = await uow.connection.execute(
            """
            SELECT DISTINCT o.tenant_id, i.tenant_id, p.tenant_id, u.tenant_id
              FROM orders o
              JOIN order_items i ON i.order_id = o.id
              JOIN products p ON p.id = i.product_id
              JOIN users u ON u.id = o.user_id
            """
        )
        rows = await cursor.fetchall()
    assert rows == [(alpha.tenant_id,) * 4]
    # Joining on id alone (forgetting tenant_id) still cannot reach the other tenant's rows.
    async with database.unit_of_work(alpha.tenant_id) as uow:
        cursor = await uow.connection.execute(
            "SELECT count(*) FROM orders o JOIN order_items i ON i.order_id = o.id"
            " WHERE o.id = %s OR i.order_id = %s",
            (beta.ids["order"], beta.ids["order"]),
        )
        assert await cursor.fetchone() == (0,)


async def _affected(database: Database, tenant: Any, sql: str, params: tuple[Any, ...]) -> int:
    async with database.unit_of_work(tenant) as uow:
        cursor = await uow.connection.execute(sql, params)
        return cursor.rowcount


async def test_a_tenant_cannot_update_or_delete_another_tenants_rows(
    pool: tuple[str, Database],
    admin: psycopg.Connection[Any],
    graphs: tuple[Graph, Graph],
    catalog: dict[str, list[Any]],
) -> None:
    alpha, beta = graphs
    role, database = pool
    before = _snapshot(admin, catalog["tenant_tables"], beta.tenant_id)
    for table in catalog["tenant_tables"]:
        for privilege, statement in (
            ("UPDATE", f"UPDATE {table} SET tenant_id = tenant_id WHERE tenant_id = %s"),
            ("DELETE", f"DELETE FROM {table} WHERE tenant_id = %s"),
        ):
            # A WHERE clause reads the table, so it needs SELECT too.
            if _may(admin, table, privilege, role) and _may(admin, table, "SELECT", role):
                affected = await _affected(database, alpha.tenant_id, statement, (beta.tenant_id,))
                assert affected == 0, (table, privilege)
            else:
                with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                    await _affected(database, alpha.tenant_id, statement, (beta.tenant_id,))
    assert _snapshot(admin, catalog["tenant_tables"], beta.tenant_id) == before


def _snapshot(admin: psycopg.Connection[Any], tables: list[str], tenant: Any) -> dict[str, int]:
    return {
        t: admin.execute(f"SELECT count(*) FROM {t} WHERE tenant_id = %s", (tenant,)).fetchone()[0]  # type: ignore[index]
        for t in tables
    }


async def test_a_tenant_cannot_write_rows_into_another_tenant(
    pool: tuple[str, Database],
    admin: psycopg.Connection[Any],
    graphs: tuple[Graph, Graph],
    catalog: dict[str, list[Any]],
) -> None:
    alpha, beta = graphs
    role, database = pool
    for table in catalog["tenant_tables"]:
        columns = insertable_columns(admin, table)
        picked = ", ".join("%s" if c == "tenant_id" else c for c in columns)
        copy = (
            f"INSERT INTO {table} ({', '.join(columns)}) OVERRIDING SYSTEM VALUE"
            f" SELECT {picked} FROM {table} LIMIT 1"
        )
        if not (_may(admin, table, "SELECT", role) and _may(admin, table, "INSERT", role)):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                await _affected(database, alpha.tenant_id, copy, (beta.tenant_id,))
            continue
        # Copying one of its own rows into the other tenant: refused by the policy's WITH CHECK.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            await _affected(database, alpha.tenant_id, copy, (beta.tenant_id,))
        if _may(admin, table, "UPDATE", role):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                await _affected(
                    database,
                    alpha.tenant_id,
                    f"UPDATE {table} SET tenant_id = %s",
                    (beta.tenant_id,),
                )


@pytest.mark.parametrize("role", [APP_ROLE, PLATFORM_ROLE])
async def test_events_cannot_be_appended_for_another_tenant(
    role: str, database: Database, platform_database: Database, graphs: tuple[Graph, Graph]
) -> None:
    """The outbox is blind to both writers (no SELECT), and still policed on the way in."""
    alpha, beta = graphs
    writer = database if role == APP_ROLE else platform_database
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        await _affected(
            writer,
            alpha.tenant_id,
            "INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)"
            " VALUES (%s, 'tenant', 'x', 'tenant.configured', '{}')",
            (beta.tenant_id,),
        )


async def test_without_a_tenant_nothing_can_be_written(
    database: Database, graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        await _affected(
            database,
            None,
            "INSERT INTO brands (tenant_id, name, slug) VALUES (%s, 'Sneaky', 'sneaky')",
            (alpha.tenant_id,),
        )


async def test_partitions_are_reachable_only_through_the_policed_parent(
    database: Database, admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    partition = admin.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'analytics_events'::regclass LIMIT 1"
    ).fetchone()
    assert partition is not None
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        await _count(database, alpha.tenant_id, f"SELECT count(*) FROM {partition[0]}")


async def test_hostname_resolves_to_its_tenant_without_exposing_domains(
    database: Database, graphs: tuple[Graph, Graph]
) -> None:
    alpha, beta = graphs
    async with database.unit_of_work() as uow:
        cursor = await uow.connection.execute(
            "SELECT tenant_for_hostname('ALPHA.shop.test'), tenant_for_hostname('beta.shop.test'),"
            " tenant_for_hostname('nobody.test')"
        )
        assert await cursor.fetchone() == (alpha.tenant_id, beta.tenant_id, None)
        cursor = await uow.connection.execute("SELECT count(*) FROM tenant_domains")
        assert await cursor.fetchone() == (0,)
