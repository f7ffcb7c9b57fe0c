"""Sessions in Redis (the spec's `session:` keys): created at login with the user's role and
permissions, sliding expiry up to an absolute lifetime, revocable one by one or all at once."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from polyshop.adapters.redis import Keys, RedisClient, digest, redis_unavailable, scripts
from polyshop.domain.identity import permissions_for


@dataclass(frozen=True, slots=True)
class Session:
    user_id: UUID
    email: str
    role: str
    permissions: tuple[str, ...]
    created_at: datetime
    last_activity: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None
    vendor_id: UUID | None = None
    digest: str = ""


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    session: Session


def _from_hash(data: dict[str, str], expires_in_ms: int | None = None) -> Session:
    now_ms = int(time.time() * 1000)
    last = int(data["lastActivityMs"])
    ends = int(data["absoluteExpiryMs"])
    return Session(
        user_id=UUID(data["userId"]),
        email=data["email"],
        role=data["role"],
        permissions=tuple(json.loads(data["permissions"])),
        created_at=datetime.fromtimestamp(int(data["createdAtMs"]) / 1000, UTC),
        last_activity=datetime.fromtimestamp(last / 1000, UTC),
        expires_at=datetime.fromtimestamp(
            min(ends, now_ms + expires_in_ms) / 1000 if expires_in_ms is not None else ends / 1000,
            UTC,
        ),
        ip_address=data.get("ipAddress") or None,
        user_agent=data.get("userAgent") or None,
        vendor_id=UUID(data["vendorId"]) if data.get("vendorId") else None,
        digest=data.get("digest", ""),
    )


class SessionService:
    def __init__(self, client: RedisClient, *, idle_seconds: int, max_seconds: int) -> None:
        self._client = client
        self._idle_ms = idle_seconds * 1000
        self._max_ms = max_seconds * 1000
        self._create = client.register_script(scripts.CREATE_SESSION)
        self._touch = client.register_script(scripts.TOUCH_SESSION)
        self._revoke = client.register_script(scripts.REVOKE_SESSIONS)

    async def create(
        self, tenant_id: UUID, user_id: UUID, email: str, role: str, *,
        vendor_id: UUID | None = None, ip_address: str | None = None,
        user_agent: str | None = None,
    ) -> NewSession:  # fmt: skip
        token = secrets.token_urlsafe(32)
        keys = Keys(tenant_id)
        now_ms = int(time.time() * 1000)
        fields: dict[str, Any] = {
            "userId": str(user_id),
            "email": email,
            "role": role,
            "permissions": json.dumps(permissions_for(role)),
            "createdAtMs": str(now_ms),
            "lastActivityMs": str(now_ms),
            "absoluteExpiryMs": str(now_ms + self._max_ms),
            "ipAddress": ip_address or "",
            "userAgent": (user_agent or "")[:512],
            "vendorId": str(vendor_id) if vendor_id else "",
        }
        token_digest = digest(token)
        session_key = keys.session_by_digest(token_digest)
        fields["digest"] = token_digest
        flat = [item for pair in fields.items() for item in pair]
        with redis_unavailable("signing in"):
            await self._create(
                keys=[session_key, keys.user_sessions(user_id)],
                args=[min(self._idle_ms, self._max_ms), self._max_ms, token_digest, *flat],
            )
        return NewSession(token, _from_hash(fields, self._idle_ms))

    async def get(self, tenant_id: UUID, token: str) -> Session | None:
        """The live session for this token, its expiry slid forward; None when there is none."""
        if not token or len(token) > 256:
            return None
        with redis_unavailable("checking your session"):
            raw = await self._touch(keys=[Keys(tenant_id).session(token)], args=[self._idle_ms])
        if not raw:
            return None
        data = dict(zip(raw[::2], raw[1::2], strict=True))
        return _from_hash(data, self._idle_ms)

    async def revoke(self, tenant_id: UUID, token: str) -> bool:
        keys = Keys(tenant_id)
        token_digest = digest(token)
        session_key = keys.session_by_digest(token_digest)
        with redis_unavailable("signing out"):
            user_id = await self._client.hget(session_key, "userId")
            if user_id is None:
                return False
            removed = await self._revoke(
                keys=[keys.user_sessions(UUID(str(user_id))), session_key],
                args=[token_digest],
            )
        return bool(removed)

    async def revoke_all(self, tenant_id: UUID, user_id: UUID) -> int:
        """End every session of the user (after a password change, or on request)."""
        keys = Keys(tenant_id)
        with redis_unavailable("signing out everywhere"):
            digests = sorted(
                str(d) for d in await self._client.smembers(keys.user_sessions(user_id))
            )
            if not digests:
                return 0
            session_keys = [keys.session_by_digest(d) for d in digests]
            return int(
                await self._revoke(keys=[keys.user_sessions(user_id), *session_keys], args=digests)
            )

    async def list(self, tenant_id: UUID, user_id: UUID) -> list[Session]:
        keys = Keys(tenant_id)
        with redis_unavailable("listing sessions"):
            digests = sorted(
                str(d) for d in await self._client.smembers(keys.user_sessions(user_id))
            )
            sessions, gone = [], []
            for digest in digests:
                data = await self._client.hgetall(keys.session_by_digest(digest))
                if data:
                    ttl = await self._client.pttl(keys.session_by_digest(digest))
                    fields = {str(k): str(v) for k, v in data.items()}
                    sessions.append(_from_hash(fields, max(int(ttl), 0)))
                else:
                    gone.append(digest)
            if gone:
                await self._client.srem(keys.user_sessions(user_id), *gone)
        return sorted(sessions, key=lambda s: s.created_at)
