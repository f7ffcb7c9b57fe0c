"""The `polyshop` command run as a person runs it: a subprocess, with only the POLYSHOP_
settings a test gives it."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from polyshop import bootstrap
from polyshop.adapters.postgres import drop_database
from tests.conftest import TEST_DATA_DIR, test_settings

POLYSHOP = str(Path(sys.executable).with_name("polyshop"))


def run(
    *args: str, env: dict[str, str] | None = None, user: str | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POLYSHOP_")}
    environment.update(env or {})
    return subprocess.run(
        [POLYSHOP, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        user=user,
        group=pwd.getpwnam(user).pw_gid if user else None,
        extra_groups=[] if user else None,
        check=False,
    )


@dataclass(frozen=True)
class CliDatabase:
    """A database of the test servers that only one CLI test uses: the `env` that points the
    `polyshop` command at it, and the admin URL for looking behind the command's back."""

    name: str
    env: dict[str, str]
    admin_url: str


@contextmanager
def own_database(name: str) -> Iterator[CliDatabase]:
    """Dropped before (a crashed earlier run may have left it) and after."""
    admin_url = bootstrap.store_urls(test_settings(database=name)).postgres_admin
    assert admin_url is not None
    env = {"POLYSHOP_DATA_DIR": str(TEST_DATA_DIR), "POLYSHOP_DATABASE": name,
           "POLYSHOP_EMBEDDED_FSYNC": "false"}  # fmt: skip
    drop_database(admin_url)
    try:
        yield CliDatabase(name, env, admin_url)
    finally:
        drop_database(admin_url)
