"""The pure parts of provisioning and of the embedded credentials (no server needed)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from polyshop.adapters.postgres import admin_url_for, database_name
from polyshop.domain.errors import ConfigurationError
from polyshop.runtime import Credentials

APP = "postgresql://polyshop_app:pw@db.internal:5432/shop"


@pytest.mark.parametrize(
    "admin",
    [
        "postgresql://postgres:su@db.internal:5432/postgres",  # the usual superuser login
        "postgresql://postgres:su@db.internal:5432/template1",
        "postgresql://postgres:su@db.internal:5432/shop",
    ],
)
def test_the_admin_url_is_pointed_at_the_apps_database(admin: str) -> None:
    pointed = conninfo_to_dict(admin_url_for(admin, APP))
    assert pointed["dbname"] == "shop"
    assert (pointed["user"], pointed["password"], pointed["host"]) == (
        "postgres",
        "su",
        "db.internal",
    )


def test_an_admin_url_naming_a_third_database_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigurationError) as caught:
        admin_url_for("postgresql://postgres:su@db.internal/elsewhere", APP)
    message = str(caught.value)
    assert "\n" not in message
    assert "'elsewhere'" in message and "'shop'" in message


def test_libpq_defaults_the_database_to_the_user() -> None:
    assert database_name("postgresql://shopper@db.internal") == "shopper"
    assert database_name("host=db.internal user=a dbname=b") == "b"


def test_old_credentials_gain_the_relay_and_platform_passwords(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    old = {"postgres_superuser": "su", "postgres_app": "app", "redis": "r"}
    path.write_text(json.dumps(old))
    path.chmod(0o600)
    completed = Credentials.load_or_create(path)
    assert (completed.postgres_superuser, completed.postgres_app, completed.redis) == (
        "su",
        "app",
        "r",
    )
    assert len(completed.postgres_relay) >= 24 and len(completed.postgres_platform) >= 24
    assert completed.postgres_relay != completed.postgres_platform
    # Kept: the next load returns the same passwords, and the file stays private.
    assert Credentials.load_or_create(path) == completed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
