"""Redis adapter: the client (single server or cluster), key names and atomic scripts."""

from polyshop.adapters.redis._client import RedisClient, connect, redis_unavailable
from polyshop.adapters.redis._keys import Keys, digest

__all__ = ["Keys", "RedisClient", "connect", "digest", "redis_unavailable"]
