"""`polyshop db provision` as a new user runs it against a standalone PostgreSQL (profile full),
connecting as the superuser through the maintenance database (issue 14, defect 12)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from polyshop.adapters.postgres import head_revision
from tests.support.standalone_postgres import StandalonePostgres

POLYSHOP = str(Path(sys.executable).with_name("polyshop"))
APP_PASSWORD = "app-secret-0123456789"
RELAY_PASSWORD = "relay-secret-0123456789"
PLATFORM_PASSWORD = "platform-secret-0123456789"


@pytest.fixture(scope="module")
def server() -> Iterator[StandalonePostgres]:
    standalone = StandalonePostgres()
    try:
        standalone.start()
        yield standalone
    finally:
        standalone.stop()


def _env(server: StandalonePostgres, admin_database: str = "postgres") -> dict[str, str]:
    return {
        "POLYSHOP_PROFILE": "full",
        "POLYSHOP_POSTGRES_ADMIN_URL": server.url(admin_database),
        "POLYSHOP_POSTGRES_URL": server.url("shop", "polyshop_app", APP_PASSWORD),
        "POLYSHOP_POSTGRES_RELAY_URL": server.url("shop", "polyshop_relay", RELAY_PASSWORD),
        "POLYSHOP_POSTGRES_PLATFORM_URL": server.url(
            "shop", "polyshop_platform", PLATFORM_PASSWORD
        ),
        "POLYSHOP_REDIS_URL": "redis://127.0.0.1:1/0",  # required by the profile, unused here
    }


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POLYSHOP_")}
    environment.update(env)
    # No terminal: stdin is /dev/null, as under CI or a deployment script.
    return subprocess.run(
        [POLYSHOP, *args], capture_output=True, text=True, env=environment,
        stdin=subprocess.DEVNULL, timeout=180, check=False,
    )  # fmt: skip


def _acls(server: StandalonePostgres) -> dict[str, Any]:
    with psycopg.connect(server.url("postgres")) as conn:
        rows = conn.execute("SELECT datname, datacl::text[] FROM pg_database").fetchall()
    return dict(rows)


def test_provision_creates_the_apps_database_and_leaves_others_alone(
    server: StandalonePostgres,
) -> None:
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bystander")
    before = _acls(server)

    provisioned = run("db", "provision", env=_env(server))
    assert provisioned.returncode == 0, provisioned.stdout + provisioned.stderr
    assert "'shop'" in provisioned.stdout

    after = _acls(server)
    assert set(after) == set(before) | {"shop"}
    # The maintenance database and every other one keep their privileges exactly.
    assert {k: v for k, v in after.items() if k != "shop"} == before
    with psycopg.connect(server.url("postgres")) as conn:
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'"
        ).fetchone()
        may_connect = conn.execute(
            "SELECT r, has_database_privilege(r, 'shop', 'CONNECT')"
            " FROM unnest(ARRAY['polyshop_app', 'polyshop_relay', 'polyshop_platform']) r"
        ).fetchall()
        public_connect = conn.execute(
            "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a"
            " WHERE d.datname = 'shop' AND a.grantee = 0"
        ).fetchone()
    assert owner == ("polyshop_owner",)
    assert all(allowed for _, allowed in may_connect), may_connect
    assert public_connect == (0,)

    # The URLs' passwords were used (no prompt): migrations, then each role logs in.
    upgraded = run("db", "upgrade", env=_env(server))
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    assert f"schema at revision {head_revision()}" in upgraded.stdout
    for user, password in (
        ("polyshop_app", APP_PASSWORD),
        ("polyshop_relay", RELAY_PASSWORD),
        ("polyshop_platform", PLATFORM_PASSWORD),
    ):
        with psycopg.connect(server.url("shop", user, password)) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (user,)

    # Running it again changes nothing and still succeeds.
    again = run("db", "provision", env=_env(server))
    assert again.returncode == 0, again.stdout + again.stderr
    assert _acls(server) == after


def test_an_admin_url_naming_another_database_is_refused(server: StandalonePostgres) -> None:
    with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'elsewhere'").fetchone():
            conn.execute("CREATE DATABASE elsewhere")
    before = _acls(server)
    for command in (("db", "provision"), ("db", "upgrade")):
        refused = run(*command, env=_env(server, admin_database="elsewhere"))
        assert refused.returncode != 0
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert "'elsewhere'" in lines[0] and "'shop'" in lines[0], lines[0]
        assert "Traceback" not in refused.stderr
    assert _acls(server) == before


def test_provision_refuses_to_make_the_maintenance_database_the_shops(
    server: StandalonePostgres,
) -> None:
    env = {**_env(server), "POLYSHOP_POSTGRES_URL": server.url("postgres", "polyshop_app", "x")}
    before = _acls(server)
    refused = run("db", "provision", env=env)
    assert refused.returncode != 0
    assert "maintenance database 'postgres'" in refused.stderr
    assert _acls(server) == before


def test_a_url_without_password_is_fine_once_the_role_exists(server: StandalonePostgres) -> None:
    """No prompt and no abort without a terminal: an existing role's password is left alone."""
    assert run("db", "provision", env=_env(server)).returncode == 0  # the roles exist
    env = {
        **_env(server),
        "POLYSHOP_POSTGRES_URL": f"postgresql://polyshop_app@127.0.0.1:{server.port}/shop2",
        "POLYSHOP_POSTGRES_RELAY_URL": server.url("shop2", "polyshop_relay", RELAY_PASSWORD),
        "POLYSHOP_POSTGRES_PLATFORM_URL": server.url(
            "shop2", "polyshop_platform", PLATFORM_PASSWORD
        ),
    }
    done = run("db", "provision", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "'shop2'" in done.stdout
    with psycopg.connect(server.url("shop2", "polyshop_app", APP_PASSWORD)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("shop2",)


def test_each_job_uses_its_own_login(server: StandalonePostgres) -> None:
    """The relay refuses to run without its URL; shops are created through the platform login,
    and with only the application's login the command says what is missing."""
    env = _env(server)
    assert run("db", "provision", env=env).returncode == 0
    assert run("db", "upgrade", env=env).returncode == 0

    created = run("tenants", "create", "roles-e2e", "--name", "Roles", env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    status = run("sync", "status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "documents" in status.stdout

    without_relay = {k: v for k, v in env.items() if k != "POLYSHOP_POSTGRES_RELAY_URL"}
    refused = run("sync", "status", env=without_relay)
    assert refused.returncode != 0
    assert refused.stderr.strip().count("\n") == 0
    assert "POLYSHOP_POSTGRES_RELAY_URL" in refused.stderr

    app_only = {
        k: v
        for k, v in env.items()
        if k not in ("POLYSHOP_POSTGRES_PLATFORM_URL", "POLYSHOP_POSTGRES_ADMIN_URL")
    }
    refused = run("tenants", "create", "roles-e2e-2", "--name", "Roles", env=app_only)
    assert refused.returncode != 0
    assert refused.stderr.strip().count("\n") == 0
    assert "POLYSHOP_POSTGRES_PLATFORM_URL" in refused.stderr
