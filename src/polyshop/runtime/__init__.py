"""Embedded servers for the `embedded` profile: real PostgreSQL and Redis from pip wheels."""

from polyshop.runtime._runtime import EmbeddedRuntime, EmbeddedUrls

__all__ = ["EmbeddedRuntime", "EmbeddedUrls"]
