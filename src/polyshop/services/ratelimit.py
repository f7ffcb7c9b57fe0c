"""Rate limits per tenant, client and route: a sliding window, admitted atomically in Redis."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from uuid import UUID

from polyshop.adapters.redis import UNAVAILABLE, Keys, RedisClient, scripts
from polyshop.domain.errors import PolyshopError

log = logging.getLogger(__name__)


class RateLimitedError(PolyshopError):
    code = "rate_limited"

    def __init__(self, retry_after_seconds: float) -> None:
        super().__init__(f"too many requests; retry after {retry_after_seconds:.1f} s")
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True, slots=True)
class Admission:
    remaining: int


class RateLimiter:
    """At most `limit` calls in any `window_seconds`. When Redis is down the limiter lets
    calls through (and logs it): losing the shop is worse than losing the limit for a while."""

    def __init__(self, client: RedisClient, *, limit: int, window_seconds: float) -> None:
        self._limit = limit
        self._window_ms = int(window_seconds * 1000)
        self._script = client.register_script(scripts.RATE_LIMIT)

    async def admit(self, tenant_id: UUID, client_id: str, route: str) -> Admission:
        key = Keys(tenant_id).rate(route, client_id)
        try:
            admitted, remaining, retry_ms = await self._script(
                keys=[key], args=[self._limit, self._window_ms, secrets.token_hex(8)]
            )
        except UNAVAILABLE:
            log.warning("rate limiter: redis unavailable, admitting %s %s", route, client_id)
            return Admission(remaining=self._limit)
        if not admitted:
            raise RateLimitedError(max(int(retry_ms), 1) / 1000)
        return Admission(remaining=int(remaining))
