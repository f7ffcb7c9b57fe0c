"""Embedded servers for the `embedded` profile: real PostgreSQL and Redis from pip wheels."""

from polyshop.runtime._files import (
    Credentials,
    free_port,
    make_traversable,
    port_is_free,
    service_account,
)
from polyshop.runtime._postgres import binaries as postgres_binaries
from polyshop.runtime._redis import redis_server_binary
from polyshop.runtime._runtime import EmbeddedRuntime, EmbeddedUrls

__all__ = [
    "Credentials",
    "EmbeddedRuntime",
    "EmbeddedUrls",
    "free_port",
    "make_traversable",
    "port_is_free",
    "postgres_binaries",
    "redis_server_binary",
    "service_account",
]
