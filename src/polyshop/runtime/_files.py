"""Small filesystem and process helpers shared by the embedded servers."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import secrets
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

SERVICE_USER = "polyshop"


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Serialise start/stop of the embedded servers between processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by the service user
    # A zombie still answers kill(0); it is not serving.
    status = Path(f"/proc/{pid}/stat")
    if status.exists():
        fields = status.read_text().rsplit(")", 1)[-1].split()
        return bool(fields) and fields[0] != "Z"
    return True


def running_as_root() -> bool:
    return os.geteuid() == 0


def service_account() -> pwd.struct_passwd | None:
    """The unprivileged account PostgreSQL runs as when we are root (it refuses to run as root)."""
    if not running_as_root():
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def make_traversable(path: Path) -> None:
    """Let the service account reach `path`: add search (not read) permission to each parent."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Passwords generated once per data directory and kept in a file only its owner can read."""

    postgres_superuser: str
    postgres_app: str
    redis: str
    # Added with the relay and platform roles; an older file gets them on its next load.
    postgres_relay: str = ""
    postgres_platform: str = ""

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        if path.exists():
            stored = json.loads(path.read_text())
            missing = [n for n in ("postgres_relay", "postgres_platform") if not stored.get(n)]
            if not missing:
                return cls(**stored)
            for name in missing:
                stored[name] = secrets.token_urlsafe(24)
            completed = cls(**stored)
            completed._write(path, replace=True)
            return completed
        created = cls(
            postgres_superuser=secrets.token_urlsafe(24),
            postgres_app=secrets.token_urlsafe(24),
            redis=secrets.token_urlsafe(24),
            postgres_relay=secrets.token_urlsafe(24),
            postgres_platform=secrets.token_urlsafe(24),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        created._write(path, replace=False)
        return created

    def _write(self, path: Path, *, replace: bool) -> None:
        # A replacement is written beside the file and renamed over it, never half-written.
        target = path.with_suffix(".tmp") if replace else path
        if replace:
            target.unlink(missing_ok=True)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(asdict(self), handle)
        if replace:
            target.replace(path)


@dataclass(frozen=True, slots=True)
class RuntimeState:
    """Ports chosen for the embedded servers, kept so the next run finds them again."""

    postgres_port: int | None = None
    redis_port: int | None = None

    @classmethod
    def load(cls, path: Path) -> RuntimeState:
        if not path.exists():
            return cls()
        return cls(**json.loads(path.read_text()))

    def save(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self)))
        temporary.replace(path)
