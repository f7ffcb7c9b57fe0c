"""Redis adapter: the client (single server or cluster), key names and atomic scripts."""

from polyshop.adapters.redis import _scripts as scripts
from polyshop.adapters.redis._client import UNAVAILABLE, RedisClient, connect, redis_unavailable
from polyshop.adapters.redis._keys import Keys, digest

__all__ = [
    "UNAVAILABLE",
    "Keys",
    "RedisClient",
    "connect",
    "digest",
    "redis_unavailable",
    "scripts",
]
