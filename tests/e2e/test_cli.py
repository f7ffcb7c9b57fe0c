"""The `polyshop` command as a person runs it: real processes, real servers, exit codes."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import sys
from pathlib import Path

import pytest

from polyshop.adapters.postgres import head_revision
from polyshop.runtime import make_traversable
from tests.conftest import TEST_DATA_DIR
from tests.support.cli import POLYSHOP, run


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])


@pytest.mark.slow
def test_up_starts_then_reuses_and_down_stops(tmp_path: Path) -> None:
    env = {"POLYSHOP_DATA_DIR": str(tmp_path / "data"), "POLYSHOP_EMBEDDED_FSYNC": "false"}
    try:
        first = run("up", env=env)
        assert first.returncode == 0, first.stderr
        assert "postgres" in first.stdout and "redis" in first.stdout
        assert f"schema revision {head_revision()}" in first.stdout
        ports = json.loads((tmp_path / "data" / "runtime.json").read_text())
        pid = _postmaster_pid(tmp_path / "data")

        second = run("up", env=env)
        assert second.returncode == 0, second.stderr
        assert json.loads((tmp_path / "data" / "runtime.json").read_text()) == ports
        assert _postmaster_pid(tmp_path / "data") == pid

        # (`polyshop demo` on a fresh data directory: tests/e2e/test_demo_cli.py.)
        created = run("tenants", "create", "demo", "--name", "Demo Shop", env=env)
        assert created.returncode == 0, created.stderr
        again = run("tenants", "create", "demo", "--name", "Demo Shop", env=env)
        assert again.returncode == 1 and again.stderr.startswith("error: "), again.stderr

        listed = run("tenants", "list", env=env)
        assert "Demo Shop" in listed.stdout
    finally:
        down = run("down", env=env)
    assert down.returncode == 0
    assert "stopped: redis, postgres" in down.stdout
    status = run("status", env=env)
    assert status.returncode == 1
    assert "not running" in status.stdout


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {
                "POLYSHOP_PROFILE": "full",
                "POLYSHOP_POSTGRES_URL": "postgresql://u:p@127.0.0.1:1/db",
                "POLYSHOP_REDIS_URL": "redis://127.0.0.1:1/0",
            },
            "error: postgres: connection failed",
        ),
        (
            {
                "POLYSHOP_PROFILE": "full",
                "POLYSHOP_POSTGRES_URL": "mysql://u@127.0.0.1/db",
                "POLYSHOP_REDIS_URL": "redis://127.0.0.1:1/0",
            },
            "error: POLYSHOP_POSTGRES_URL: postgres: URL must start with postgresql://",
        ),
        (
            {
                "POLYSHOP_PROFILE": "full",
                "POLYSHOP_POSTGRES_URL": "postgresql://u@127.0.0.1/db",
                "POLYSHOP_REDIS_URL": "redis:///nohost",
            },
            "error: POLYSHOP_REDIS_URL: redis: URL has no host",
        ),
        (
            {"POLYSHOP_PROFILE": "full"},
            "error: settings: profile 'full' needs POLYSHOP_POSTGRES_URL",
        ),
        (
            {"POLYSHOP_PROFILE": "cloud"},
            "error: POLYSHOP_PROFILE: Input should be 'embedded' or 'full'",
        ),
        (
            {"POLYSHOP_POOL_MAX_SIZE": "zero"},
            "error: POLYSHOP_POOL_MAX_SIZE: Input should be a valid integer",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(env: dict[str, str], expected: str) -> None:
    result = run("up", env=env, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected), lines[0]
    assert "Traceback" not in result.stderr


def test_full_profile_with_an_unreachable_redis_names_redis(urls: object) -> None:
    from polyshop.bootstrap import StoreUrls

    assert isinstance(urls, StoreUrls)
    env = {
        "POLYSHOP_PROFILE": "full",
        "POLYSHOP_POSTGRES_URL": urls.postgres,
        "POLYSHOP_POSTGRES_ADMIN_URL": urls.postgres_admin or "",
        "POLYSHOP_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    result = run("up", env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: redis:"), result.stderr


def test_an_unwritable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run("up", env={"POLYSHOP_DATA_DIR": str(blocker / "data")}, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: Not a directory: {blocker / 'data'}"]


def test_bad_input_is_one_line() -> None:
    env = {"POLYSHOP_DATA_DIR": str(TEST_DATA_DIR), "POLYSHOP_DATABASE": "polyshop_test"}
    result = run("tenants", "create", "Not A Slug", "--name", "x", env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: slug 'Not A Slug' must be 1-63 lowercase letters, digits or inner hyphens"
    )


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0, reason="this run is already unprivileged: the whole suite is the test"
)
def test_embedded_stores_run_for_an_unprivileged_user(tmp_path: Path) -> None:
    """As a normal user PostgreSQL runs as that user; as root it runs as a service account."""
    nobody = pwd.getpwnam("nobody")
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    make_traversable(home)
    # The interpreter and the virtualenv must be reachable by that user, as for any user.
    make_traversable(Path(os.path.realpath(sys.executable)))
    make_traversable(Path(POLYSHOP))
    env = {
        "HOME": str(home),
        "POLYSHOP_EMBEDDED_FSYNC": "false",
        "XDG_DATA_HOME": str(home / "share"),
    }
    try:
        result = run("up", env=env, user="nobody")
        assert result.returncode == 0, result.stderr
        pgdata = home / "share" / "polyshop" / "postgres"
        assert pgdata.stat().st_uid == nobody.pw_uid
        pid = _postmaster_pid(home / "share" / "polyshop")
        assert Path(f"/proc/{pid}").stat().st_uid == nobody.pw_uid
    finally:
        run("down", env=env, user="nobody")
        shutil.rmtree(home, ignore_errors=True)
