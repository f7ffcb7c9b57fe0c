"""The migrations go up from empty, down to base and up again, leaving nothing behind."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from polyshop.adapters.postgres import (
    current_revision,
    downgrade,
    drop_database,
    head_revision,
    provision,
    upgrade,
)
from polyshop.bootstrap import StoreUrls


@pytest.fixture
def scratch_url(urls: StoreUrls) -> Any:
    assert urls.postgres_admin is not None
    url = make_conninfo(urls.postgres_admin, dbname="polyshop_migrations_test")
    drop_database(url)
    provision(url, make_conninfo(urls.postgres, dbname="polyshop_migrations_test"))
    yield url
    drop_database(url)


def _objects(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            """
            SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace
                      AND relkind IN ('r', 'p') AND relname <> 'alembic_version'),
                   (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace),
                   (SELECT count(*) FROM pg_policy)
            """
        ).fetchone()
    assert row is not None
    return {"tables": row[0], "functions": row[1], "policies": row[2]}


def test_upgrade_downgrade_upgrade(scratch_url: str) -> None:
    assert current_revision(scratch_url) is None
    upgrade(scratch_url)
    assert current_revision(scratch_url) == head_revision()
    built = _objects(scratch_url)
    assert built["tables"] >= 24 and built["functions"] >= 7 and built["policies"] >= 22

    downgrade(scratch_url, "base")
    assert current_revision(scratch_url) is None
    assert _objects(scratch_url) == {"tables": 0, "functions": 0, "policies": 0}

    upgrade(scratch_url)
    assert _objects(scratch_url) == built


def test_objects_belong_to_the_owner_role(admin_url: str) -> None:
    with psycopg.connect(admin_url) as conn:
        owners = {
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class"
                " WHERE relnamespace = 'public'::regnamespace"
            )
        }
    assert owners == {"polyshop_owner"}
