"""One way to build the client, whether Redis is a single server or a cluster."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.cluster import RedisCluster

from polyshop.domain.errors import StoreUnavailableError

RedisClient = aioredis.Redis | RedisCluster

# What "Redis is not there" looks like from the client.
UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def connect(url: str, *, cluster: bool = False, timeout: float = 1.0) -> RedisClient:
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
    }
    if cluster:
        return RedisCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, health_check_interval=30, **options)


@contextmanager
def redis_unavailable(action: str) -> Iterator[None]:
    """Turn a lost connection into a clear, typed 'temporarily unavailable' error."""
    try:
        yield
    except redis.exceptions.ClusterDownError as exc:
        raise StoreUnavailableError(
            "redis", f"{action} is temporarily unavailable ({exc})"
        ) from None
    except UNAVAILABLE:
        raise StoreUnavailableError(
            "redis", f"{action} is temporarily unavailable; please try again shortly"
        ) from None
