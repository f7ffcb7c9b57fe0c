"""Starts, reuses and stops the embedded servers under one data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from polyshop.runtime._files import Credentials, exclusive_lock
from polyshop.runtime._postgres import SUPERUSER, EmbeddedPostgres
from polyshop.runtime._redis import EmbeddedRedis, redis_url

# The login roles provisioning creates (adapters.postgres names them too).
APP_ROLE = "polyshop_app"
RELAY_ROLE = "polyshop_relay"
PLATFORM_ROLE = "polyshop_platform"


@dataclass(frozen=True, slots=True)
class EmbeddedUrls:
    postgres_admin: str
    postgres_app: str
    postgres_relay: str
    postgres_platform: str
    redis: str


class EmbeddedRuntime:
    def __init__(self, data_dir: Path, database: str, *, fsync: bool = True) -> None:
        self.data_dir = data_dir
        self._database = database
        self._lock = data_dir / ".lock"
        self._credentials_file = data_dir / "credentials.json"
        self._fsync = fsync

    def _servers(self) -> tuple[EmbeddedPostgres, EmbeddedRedis, Credentials]:
        credentials = Credentials.load_or_create(self._credentials_file)
        return (
            EmbeddedPostgres(self.data_dir, credentials, fsync=self._fsync),
            EmbeddedRedis(self.data_dir, credentials, fsync=self._fsync),
            credentials,
        )

    def up(self) -> EmbeddedUrls:
        """Start whatever is not running yet; reuse what is."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self._lock):
            postgres, redis_server, credentials = self._servers()
            endpoint = postgres.ensure_running()
            postgres.wait_until_accepting(endpoint.port)
            redis_port = redis_server.ensure_running()
        return EmbeddedUrls(
            postgres_admin=endpoint.url(SUPERUSER, credentials.postgres_superuser, self._database),
            postgres_app=endpoint.url(APP_ROLE, credentials.postgres_app, self._database),
            postgres_relay=endpoint.url(RELAY_ROLE, credentials.postgres_relay, self._database),
            postgres_platform=endpoint.url(
                PLATFORM_ROLE, credentials.postgres_platform, self._database
            ),
            redis=redis_url(redis_port, credentials.redis),
        )

    def down(self) -> list[str]:
        """Stop the servers; returns the names of those that were running."""
        if not self._credentials_file.exists():
            return []
        with exclusive_lock(self._lock):
            postgres, redis_server, _ = self._servers()
            stopped = []
            if redis_server.stop():
                stopped.append("redis")
            if postgres.stop():
                stopped.append("postgres")
        return stopped

    def running(self) -> dict[str, int | None]:
        if not self._credentials_file.exists():
            return {"postgres": None, "redis": None}
        postgres, redis_server, _ = self._servers()
        return {"postgres": postgres.running_port(), "redis": redis_server.running_port()}
