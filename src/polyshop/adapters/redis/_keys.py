"""Every key polyshop writes. The tenant is the hash tag (`{...}`), so all keys of one tenant
share a cluster slot and every multi-key script works unchanged on Redis Cluster."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID

PREFIX = "ps"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Keys:
    tenant_id: UUID

    @property
    def _base(self) -> str:
        return f"{PREFIX}:{{{self.tenant_id}}}"

    def session(self, token: str) -> str:
        # The token's digest, never the token: a leaked key list opens no session.
        return self.session_by_digest(digest(token))

    def session_by_digest(self, token_digest: str) -> str:
        return f"{self._base}:session:{token_digest}"

    def user_sessions(self, user_id: UUID) -> str:
        return f"{self._base}:user-sessions:{user_id}"

    def cart(self, owner: str) -> str:
        """`owner` is `user:<id>` or `anon:<token digest>`."""
        return f"{self._base}:cart:{owner}"

    def cart_placed(self, owner: str) -> str:
        """The key of the order a cart was last checked out into (briefly kept)."""
        return f"{self._base}:cart-placed:{owner}"

    def cache(self, namespace: str, key: str) -> str:
        return f"{self._base}:cache:{namespace}:{key}"

    def cache_generation(self, namespace: str) -> str:
        return f"{self._base}:cache-generation:{namespace}"

    def rate(self, route: str, client: str) -> str:
        return f"{self._base}:rate:{route}:{digest(client)[:32]}"

    def login_failures(self, email: str) -> str:
        return f"{self._base}:login-failures:{digest(email.lower())}"
