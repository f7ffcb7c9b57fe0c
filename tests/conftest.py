"""Shared fixtures: real embedded PostgreSQL and Redis under .test-data (started on demand)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from polyshop import bootstrap
from polyshop.adapters.postgres import Database, drop_database, provision, upgrade
from polyshop.settings import Settings
from tests.support.redis_servers import RedisServer

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA_DIR = Path(os.environ.get("POLYSHOP_TEST_DATA_DIR", ROOT / ".test-data"))
TEST_DATABASE = "polyshop_test"
PLATFORM_TOKEN = "test-platform-admin-token-0123456789"


def test_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "profile": "embedded",
        "data_dir": TEST_DATA_DIR,
        "database": TEST_DATABASE,
        "embedded_fsync": False,
        "pool_max_size": 20,
        "platform_admin_token": PLATFORM_TOKEN,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return test_settings()


@pytest.fixture(scope="session")
def urls(settings: Settings) -> bootstrap.StoreUrls:
    """A freshly migrated test database on the (shared) embedded servers."""
    found = bootstrap.store_urls(settings)
    assert found.postgres_admin is not None
    drop_database(found.postgres_admin)
    provision(
        found.postgres_admin, found.postgres, relay_url=found.postgres_relay,
        platform_url=found.postgres_platform,
    )  # fmt: skip
    upgrade(found.postgres_admin)
    return found


@pytest.fixture(scope="session")
def admin_url(urls: bootstrap.StoreUrls) -> str:
    assert urls.postgres_admin is not None
    return urls.postgres_admin


@pytest.fixture
def admin(admin_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A superuser connection (bypasses row-level security) for arranging and inspecting data."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def stripe_mock() -> Iterator[Any]:
    """stripe-mock (Stripe's API, validated against its OpenAPI spec) for the session."""
    from tests.support.stripe_mock import StripeMock

    server = StripeMock()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ferretdb() -> Iterator[Any]:
    """A FerretDB server (MongoDB wire protocol) for the session."""
    from tests.support.ferretdb import FerretDB

    server = FerretDB()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cassandra() -> Iterator[str]:
    """One Cassandra 5.0 node for the whole run (`host:port`), started on first use; or the
    node at POLYSHOP_TEST_CASSANDRA_HOSTS when the test command already started one."""
    given = os.environ.get("POLYSHOP_TEST_CASSANDRA_HOSTS")
    if given:
        yield given
        return
    from tests.support.cassandra import SingleNode

    server = SingleNode()
    try:
        server.start()
        yield server.hosts
    finally:
        server.stop()


@pytest.fixture(scope="session")
def cassandra_keyspace(cassandra: str) -> str:
    """A migrated keyspace of its own for this run."""
    from polyshop.adapters.cassandra import upgrade_schema

    keyspace = f"polyshop_test_{os.getpid()}"
    upgrade_schema(cassandra, keyspace, "SimpleStrategy:1")
    return keyspace


@pytest.fixture(scope="session")
async def app(settings: Settings, urls: bootstrap.StoreUrls) -> AsyncIterator[bootstrap.Container]:
    """The whole application over the test stores."""
    async with bootstrap.application(settings, urls) as container:
        yield container


@pytest.fixture(scope="session")
async def database(urls: bootstrap.StoreUrls) -> AsyncIterator[Database]:
    """The application's pool, logged in as the role without BYPASSRLS."""
    db = Database(urls.postgres, min_size=1, max_size=20)
    await db.open()
    yield db
    await db.close()


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Any]:
    """A Neo4j 5 server (Bolt on loopback) for the session."""
    from tests.support.neo4j_server import Neo4jServer

    server = Neo4jServer()
    server.start()
    yield server
    server.remove()


@pytest.fixture(scope="session")
async def relay_database(urls: bootstrap.StoreUrls) -> AsyncIterator[Database]:
    """The relay's pool, logged in as its own role (no BYPASSRLS either)."""
    assert urls.postgres_relay is not None
    db = Database(urls.postgres_relay, min_size=1, max_size=4)
    await db.open()
    yield db
    await db.close()


@pytest.fixture(scope="session")
async def platform_database(urls: bootstrap.StoreUrls) -> AsyncIterator[Database]:
    """The platform operator's pool."""
    assert urls.postgres_platform is not None
    db = Database(urls.postgres_platform, min_size=1, max_size=2)
    await db.open()
    yield db
    await db.close()


@pytest.fixture
async def fragile(
    settings: Settings, urls: bootstrap.StoreUrls
) -> AsyncIterator[tuple[bootstrap.Container, RedisServer]]:
    """The application on a Redis server of its own, which the test may kill and restart."""
    directory = Path(tempfile.mkdtemp(prefix="polyshop-redis-fragile-"))
    server = RedisServer(directory)
    server.start()
    try:
        fast = settings.model_copy(update={"redis_timeout_seconds": 0.5})
        async with bootstrap.application(fast, replace(urls, redis=server.url)) as app:
            yield app, server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
