"""PostgreSQL 16 from the `pgserver` wheel, run as a real server on loopback.

We use the wheel's binaries but not its process management: ours listens on 127.0.0.1 with
SCRAM passwords (no trust authentication, no world-reachable socket), keeps running between
CLI runs so the next run reuses it, and stops only when asked.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from polyshop.domain.errors import StoreUnavailableError
from polyshop.runtime._files import (
    Credentials,
    RuntimeState,
    free_port,
    make_traversable,
    port_is_free,
    process_alive,
    service_account,
)

SUPERUSER = "postgres"
_CONF_NAME = "polyshop.conf"


def binaries() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise StoreUnavailableError("postgres", "the pgserver package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True, slots=True)
class PostgresEndpoint:
    host: str
    port: int

    def url(self, user: str, password: str, database: str) -> str:
        return (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{self.host}:{self.port}/{quote(database, safe='')}"
        )


class EmbeddedPostgres:
    def __init__(self, root: Path, credentials: Credentials, *, fsync: bool = True) -> None:
        self.pgdata = root / "postgres"
        self._state_file = root / "runtime.json"
        self._credentials = credentials
        self._fsync = fsync
        self.log_file = self.pgdata / "server.log"

    # The caller holds the runtime lock for every method below that changes state.

    def running_port(self) -> int | None:
        """The port of a live postmaster for this data directory, or None."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 4 or not lines[0].strip().isdigit():
            return None
        if not process_alive(int(lines[0])):
            return None
        return int(lines[3])

    def ensure_running(self) -> PostgresEndpoint:
        port = self.running_port()
        if port is not None:
            return PostgresEndpoint("127.0.0.1", port)
        self._ensure_initialised()
        state = RuntimeState.load(self._state_file)
        port = state.postgres_port
        if port is None or not port_is_free(port):
            port = free_port()
            RuntimeState(postgres_port=port, redis_port=state.redis_port).save(self._state_file)
        self._write_conf(port)
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_file))
        return PostgresEndpoint("127.0.0.1", port)

    def stop(self) -> bool:
        if self.running_port() is None:
            return False
        self._pg_ctl("stop", "-w", "-t", "60", "-m", "fast")
        return True

    def _ensure_initialised(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        account = service_account()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        if account is not None:
            make_traversable(self.pgdata)
            make_traversable(binaries())
            os.chown(self.pgdata, account.pw_uid, account.pw_gid)
        # Outside PGDATA: initdb wants an empty directory.
        password_file = self.pgdata.with_name(".initdb-password")
        descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(self._credentials.postgres_superuser)
        if account is not None:
            os.chown(password_file, account.pw_uid, account.pw_gid)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                f"--pwfile={password_file}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            password_file.unlink(missing_ok=True)
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(f"\ninclude_if_exists = '{_CONF_NAME}'\n")

    def _write_conf(self, port: int) -> None:
        durable = "on" if self._fsync else "off"
        conf = "\n".join(
            [
                "# Written by polyshop at every start; edit settings, not this file.",
                "listen_addresses = '127.0.0.1'",
                f"port = {port}",
                "unix_socket_directories = ''",
                "max_connections = 300",
                "shared_buffers = '256MB'",
                f"fsync = {durable}",
                f"synchronous_commit = {durable}",
                f"full_page_writes = {durable}",
                "password_encryption = 'scram-sha-256'",
                "log_min_messages = warning",
                "",
            ]
        )
        target = self.pgdata / _CONF_NAME
        target.write_text(conf)
        account = service_account()
        if account is not None:
            os.chown(target, account.pw_uid, account.pw_gid)

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), *args)

    def _run(self, program: str, *args: str) -> None:
        account = service_account()
        try:
            subprocess.run(
                [str(binaries() / program), *args],
                check=True,
                capture_output=True,
                text=True,
                user=account.pw_uid if account else None,
                group=account.pw_gid if account else None,
                # Drop root's supplementary groups too, not just the user id.
                extra_groups=[] if account else None,
                cwd=self.pgdata,
                timeout=120,
            )
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()
            reason = detail[-1] if detail else f"{program} exited with {exc.returncode}"
            raise StoreUnavailableError(
                "postgres", f"{program} failed: {reason} (log: {self.log_file})"
            ) from None

    def wait_until_accepting(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        ready = binaries() / "pg_isready"
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [str(ready), "-h", "127.0.0.1", "-p", str(port), "-q"], check=False, timeout=10
            )
            if probe.returncode == 0:
                return
            time.sleep(0.2)
        raise StoreUnavailableError("postgres", f"not accepting connections on port {port}")
