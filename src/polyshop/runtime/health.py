"""Health of each store: reachable or not, version, round-trip time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import psycopg
import redis.asyncio as aioredis
import redis.exceptions


@dataclass(frozen=True, slots=True)
class StoreStatus:
    store: str
    ok: bool
    detail: str
    latency_ms: float | None = None


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


async def postgres_status(url: str) -> StoreStatus:
    started = time.perf_counter()
    try:
        async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
            cursor = await conn.execute(
                "SELECT current_setting('server_version'), current_user, current_database()"
            )
            row = await cursor.fetchone()
    except psycopg.Error as exc:
        return StoreStatus("postgres", False, first_line(exc))
    assert row is not None
    elapsed = (time.perf_counter() - started) * 1000
    return StoreStatus("postgres", True, f"PostgreSQL {row[0]}, {row[1]}@{row[2]}", elapsed)


async def redis_status(url: str) -> StoreStatus:
    started = time.perf_counter()
    client = aioredis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        info = await client.info("server")
    except (redis.exceptions.RedisError, OSError) as exc:
        return StoreStatus("redis", False, first_line(exc))
    finally:
        await client.aclose()
    elapsed = (time.perf_counter() - started) * 1000
    return StoreStatus("redis", True, f"Redis {info.get('redis_version')}", elapsed)


async def mongo_status(url: str) -> StoreStatus:
    from pymongo import AsyncMongoClient
    from pymongo.errors import PyMongoError

    started = time.perf_counter()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=3000
    )
    try:
        info = await client.server_info()
    except PyMongoError as exc:
        return StoreStatus("mongodb", False, first_line(exc))
    finally:
        await client.close()
    elapsed = (time.perf_counter() - started) * 1000
    return StoreStatus("mongodb", True, f"MongoDB protocol {info.get('version')}", elapsed)


async def cassandra_status(hosts: str) -> StoreStatus:
    from cassandra import DriverException
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
    from cassandra.policies import RoundRobinPolicy

    def probe() -> str:
        names, port = [], 9042
        for entry in hosts.split(","):
            name, _, given = entry.strip().rpartition(":")
            names.append(name or entry.strip())
            port = int(given) if name and given.isdigit() else port
        profile = ExecutionProfile(load_balancing_policy=RoundRobinPolicy(), request_timeout=5)
        cluster = Cluster(
            names, port=port, protocol_version=5, connect_timeout=3,
            execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        )  # fmt: skip
        try:
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local").one()
            up = sum(1 for host in cluster.metadata.all_hosts() if host.is_up)
            return f"Cassandra {row[0]}, {up} node(s) up"
        finally:
            cluster.shutdown()

    started = time.perf_counter()
    try:
        detail = await asyncio.to_thread(probe)
    except (DriverException, NoHostAvailable, OSError) as exc:
        return StoreStatus("cassandra", False, first_line(exc))
    return StoreStatus("cassandra", True, detail, (time.perf_counter() - started) * 1000)


async def neo4j_status(url: str, user: str, password: str) -> StoreStatus:
    from neo4j import AsyncGraphDatabase
    from neo4j.exceptions import DriverError, Neo4jError

    started = time.perf_counter()
    driver = AsyncGraphDatabase.driver(
        url, auth=(user, password), connection_timeout=5, connection_acquisition_timeout=5
    )
    try:
        info = await driver.get_server_info()
    except (Neo4jError, DriverError, OSError) as exc:
        return StoreStatus("neo4j", False, first_line(exc))
    finally:
        await driver.close()
    elapsed = (time.perf_counter() - started) * 1000
    return StoreStatus("neo4j", True, f"{info.agent}, protocol {info.protocol_version}", elapsed)
