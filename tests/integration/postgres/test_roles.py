"""Least privilege in the database: one role per job, and the catalog grants exactly what
docs/schema.md ("Database roles") says. The attacks are the ones a process holding only the
application's login could make before roles were split (issue 14)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from polyshop import bootstrap
from polyshop.adapters.postgres import APP_ROLE, OWNER_ROLE, PLATFORM_ROLE, RELAY_ROLE, Database
from tests.integration.postgres.graph import Graph

LOGIN_ROLES = (APP_ROLE, RELAY_ROLE, PLATFORM_ROLE)
SCHEMA_DOC = Path(__file__).resolve().parents[3] / "docs" / "schema.md"
Grant = tuple[str, str, str]  # (object, grantee, privilege)


def documented_rights() -> set[Grant]:
    """The table of rights in docs/schema.md, as (object, role, privilege) triples."""
    text = SCHEMA_DOC.read_text()
    section = text[text.index("## Database roles") :]
    header = next(line for line in section.splitlines() if line.startswith("| object |"))
    roles = [cell.strip(" `") for cell in header.strip("|").split("|")[1:]]
    assert roles == list(LOGIN_ROLES)
    rights: set[Grant] = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        obj = cells[0].strip("`")
        if obj in (OWNER_ROLE, *LOGIN_ROLES):
            continue  # the table of roles above the table of rights
        for role, cell in zip(roles, cells[1:], strict=True):
            if cell != "-":
                rights |= {(obj, role, p.strip().upper()) for p in cell.split(",")}
    return rights


def granted_rights(admin: psycopg.Connection[Any]) -> set[Grant]:
    """Every privilege on every relation (tables, partitions, sequences, views) and function of
    the schema held by anyone but the object's owner; PUBLIC is spelt `PUBLIC`. A NULL ACL means
    the default one, which for functions includes EXECUTE for PUBLIC."""
    rows = admin.execute(
        """
        SELECT c.relname, coalesce(r.rolname, 'PUBLIC'), a.privilege_type
          FROM pg_class c
         CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault(
               CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
          LEFT JOIN pg_roles r ON r.oid = a.grantee
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
           AND a.grantee <> c.relowner
        UNION ALL
        SELECT p.oid::regprocedure::text, coalesce(r.rolname, 'PUBLIC'), a.privilege_type
          FROM pg_proc p
         CROSS JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
          LEFT JOIN pg_roles r ON r.oid = a.grantee
         WHERE p.pronamespace = 'public'::regnamespace AND a.grantee <> p.proowner
        UNION ALL
        SELECT c.relname || '.' || att.attname, coalesce(r.rolname, 'PUBLIC'), a.privilege_type
          FROM pg_attribute att
          JOIN pg_class c ON c.oid = att.attrelid
         CROSS JOIN LATERAL aclexplode(att.attacl) a
          LEFT JOIN pg_roles r ON r.oid = a.grantee
         WHERE c.relnamespace = 'public'::regnamespace AND att.attacl IS NOT NULL
        """
    ).fetchall()
    return {(str(o), str(g), str(p)) for o, g, p in rows}


def test_the_catalog_grants_exactly_the_documented_rights(admin: psycopg.Connection[Any]) -> None:
    documented, granted = documented_rights(), granted_rights(admin)
    assert len(documented) > 80  # the table was read, not silently skipped
    assert granted - documented == set(), "granted but not in docs/schema.md"
    assert documented - granted == set(), "in docs/schema.md but not granted"


def test_documented_objects_exist(admin: psycopg.Connection[Any]) -> None:
    """A renamed table or function must not leave a stale line behind that grants nothing."""
    names = {obj for obj, _, _ in documented_rights()}
    for name in names:
        kind = "regprocedure" if "(" in name else "regclass"
        assert admin.execute(f"SELECT to_{kind}(%s)", (name,)).fetchone() != (None,), name


def test_login_roles_have_no_way_around_their_rights(admin: psycopg.Connection[Any]) -> None:
    rows = admin.execute(
        "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolreplication"
        " FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
        (list(LOGIN_ROLES),),
    ).fetchall()
    assert rows == [(role, False, False, False, False, False) for role in sorted(LOGIN_ROLES)]
    # Members of no role (so they inherit nothing), owners of nothing, no CREATE in the schema.
    member_of = admin.execute(
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
        " WHERE r.rolname = ANY(%s)",
        (list(LOGIN_ROLES),),
    ).fetchone()
    assert member_of == (0,)
    owned = admin.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
        " WHERE r.rolname = ANY(%s)",
        (list(LOGIN_ROLES),),
    ).fetchone()
    assert owned == (0,)
    for role in LOGIN_ROLES:
        creates = admin.execute(
            "SELECT has_schema_privilege(%s, 'public', 'CREATE')", (role,)
        ).fetchone()
        assert creates == (False,), role


# -------------------------------------------------------------------------------------------
# The attacks, in SQL, as the application role (no tenant set, as a compromised process might).
# -------------------------------------------------------------------------------------------


async def _as(database: Database, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    async with database.unit_of_work() as uow:
        cursor = await uow.connection.execute(sql, params)
        rows = await cursor.fetchall() if cursor.description else []
        await uow.commit()
        return rows


def _tenant(admin: psycopg.Connection[Any], graph: Graph) -> tuple[str, Any]:
    row = admin.execute(
        "SELECT status, settings FROM tenants WHERE id = %s", (graph.tenant_id,)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.mark.parametrize(
    "attack",
    [
        "UPDATE tenants SET status = 'suspended' WHERE id = %(tenant)s",
        "UPDATE tenants SET settings = jsonb_set(settings, '{discounts}',"
        ' \'{"FREE": {"type": "percent", "value": "100"}}\') WHERE id = %(tenant)s',
        "SELECT platform_set_tenant_status(%(tenant)s, 'suspended')",
        "SELECT platform_configure_tenant(%(tenant)s, '{\"discounts\": {}}')",
        "DELETE FROM tenant_domains WHERE tenant_id = %(tenant)s",
        "INSERT INTO tenants (slug, name) VALUES ('squatter', %(tenant)s::text)",
    ],
    ids=["suspend", "discounts", "suspend-fn", "configure-fn", "domains", "create"],
)
async def test_the_application_cannot_change_a_shop(
    attack: str, database: Database, admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    before = _tenant(admin, alpha)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        await _as(database, attack.replace("%(tenant)s", "%s"), (alpha.tenant_id,))
    assert _tenant(admin, alpha) == before


@pytest.mark.parametrize(
    "attack",
    [
        "UPDATE sync_checkpoints SET transaction_id = '0', event_id = 0",
        "INSERT INTO sync_checkpoints (projector, transaction_id, event_id)"
        " VALUES ('documents', '99999999', 99999999) ON CONFLICT (projector)"
        " DO UPDATE SET transaction_id = excluded.transaction_id, event_id = excluded.event_id",
        "DELETE FROM sync_checkpoints",
        "SELECT * FROM sync_checkpoints",
    ],
    ids=["rewind", "skip", "forget", "read"],
)
async def test_the_application_cannot_move_the_relay(
    attack: str, database: Database, admin: psycopg.Connection[Any]
) -> None:
    admin.execute(
        "INSERT INTO sync_checkpoints (projector, transaction_id, event_id)"
        " VALUES ('roles-test', '5', 5) ON CONFLICT DO NOTHING"
    )
    before = admin.execute("SELECT * FROM sync_checkpoints ORDER BY projector").fetchall()
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        await _as(database, attack)
    assert admin.execute("SELECT * FROM sync_checkpoints ORDER BY projector").fetchall() == before


@pytest.mark.parametrize(
    "attack",
    [
        "SELECT * FROM outbox_after('0'::xid8, 0, 1000)",
        "SELECT * FROM outbox_pending('0'::xid8, 0)",
        "SELECT payload FROM outbox",
        "SELECT * FROM sync_parked_counts()",
        "SELECT * FROM sync_parked",
    ],
    ids=["outbox_after", "outbox_pending", "outbox", "parked-counts", "parked"],
)
async def test_the_application_cannot_read_the_relays_data(
    attack: str, database: Database, graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        await _as(database, attack)
    # Not even its own tenant's events: the outbox is append-only and blind for it.
    async with database.unit_of_work(alpha.tenant_id) as uow:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            await uow.connection.execute("SELECT count(*) FROM outbox")


async def test_the_application_cannot_forge_documents(
    database: Database, admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    forged = json.dumps({"name": "Forged", "price": "0.01"})
    async with database.unit_of_work(alpha.tenant_id) as uow:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            await uow.connection.execute(
                "UPDATE documents SET body = %s::jsonb, version = version + 1000000", (forged,)
            )
    forged_rows = admin.execute("SELECT count(*) FROM documents WHERE body = %s::jsonb", (forged,))
    assert forged_rows.fetchone() == (0,)


@pytest.mark.parametrize(
    "attack",
    [
        "UPDATE products SET price = 0.01",
        "UPDATE tenants SET status = 'suspended'",
        "INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)"
        " VALUES (app_current_tenant(), 'order', 'x', 'order.placed', '{}')",
        "DELETE FROM sync_parked",
        "SELECT platform_configure_tenant(app_current_tenant(), '{}')",
    ],
    ids=["products", "tenants", "forge-event", "unpark", "configure-fn"],
)
async def test_the_relay_cannot_change_the_system_of_record(
    attack: str, relay_database: Database, graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    async with relay_database.unit_of_work(alpha.tenant_id) as uow:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            await uow.connection.execute(attack)


@pytest.mark.parametrize(
    "attack",
    [
        "SELECT count(*) FROM products",
        "SELECT count(*) FROM tenants",
        "UPDATE tenants SET status = 'suspended'",
        "SELECT * FROM outbox_after('0'::xid8, 0, 10)",
    ],
    ids=["products", "tenants", "update-tenants", "outbox_after"],
)
async def test_the_platform_role_can_only_call_its_functions(
    attack: str, platform_database: Database, graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    async with platform_database.unit_of_work(alpha.tenant_id) as uow:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            await uow.connection.execute(attack)


async def test_the_platform_operator_suspends_and_reopens_a_shop(app: bootstrap.Container) -> None:
    """Through the service and the platform role; a suspended shop's domains stop resolving."""
    slug = f"roles-{uuid.uuid4().hex[:10]}"
    tenant = await app.tenants.create(slug, "Roles", domains=(f"{slug}.shop.test",))
    assert await app.tenants.resolve_hostname(f"{slug}.shop.test") == tenant.id
    await app.tenants.set_status(tenant.id, "suspended")
    assert (await app.tenants.get(slug)).status == "suspended"
    assert await app.tenants.resolve_hostname(f"{slug}.shop.test") is None
    await app.tenants.set_status(tenant.id, "active")
    assert await app.tenants.resolve_hostname(f"{slug}.shop.test") == tenant.id
