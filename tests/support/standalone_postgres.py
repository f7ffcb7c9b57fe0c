"""A standalone PostgreSQL server for tests that must act as a new user would against one:
initdb into a temporary directory, a superuser `postgres` with a password, SCRAM, loopback only,
a free port. The binaries are the pgserver wheel's (the same the embedded runtime uses), but
nothing of the embedded runtime (no provisioning, no polyshop database) is involved."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from polyshop.runtime import free_port, make_traversable, service_account
from polyshop.runtime import postgres_binaries as binaries


class StandalonePostgres:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="polyshop-standalone-pg-"))
        self.pgdata = self.root / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)

    def url(self, database: str, user: str = "postgres", password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{user}:{secret}@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        account = service_account()  # PostgreSQL refuses to run as root
        options: dict[str, Any] = {}
        if account is not None:
            options = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        subprocess.run(
            [str(binaries() / program), *args], check=True, capture_output=True, text=True,
            cwd=self.root, timeout=120, **options,
        )  # fmt: skip

    def start(self) -> None:
        account = service_account()
        password_file = self.root / "pwfile"
        password_file.write_text(self.password)
        password_file.chmod(0o600)
        if account is not None:
            make_traversable(self.root)
            make_traversable(binaries())
            os.chown(self.root, account.pw_uid, account.pw_gid)
            os.chown(password_file, account.pw_uid, account.pw_gid)
        self._run(
            "initdb", "-D", str(self.pgdata), "-U", "postgres", f"--pwfile={password_file}",
            "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--encoding=UTF8",
            "--locale=C.UTF-8",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
            "-c fsync=off -c max_connections=50"
        )
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-o", options, "-l", str(self.root / "server.log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while subprocess.run(
            [str(binaries() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
        ).returncode:
            assert time.monotonic() < deadline, "standalone PostgreSQL did not start"
            time.sleep(0.2)

    def stop(self) -> None:
        try:
            if (self.pgdata / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.pgdata), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
