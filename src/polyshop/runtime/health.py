"""Health of each store: reachable or not, version, round-trip time."""

from __future__ import annotations

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
