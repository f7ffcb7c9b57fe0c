"""Signing in and out: credentials in PostgreSQL, sessions and the login lockout in Redis."""

from __future__ import annotations

from uuid import UUID

from polyshop.adapters.redis import Keys, RedisClient, redis_unavailable, scripts
from polyshop.domain.credentials import normalise_email
from polyshop.domain.errors import AccountLockedError, AuthenticationError, ValidationError
from polyshop.services.carts import CartService, anonymous_cart, user_cart
from polyshop.services.customers import CustomerService
from polyshop.services.sessions import NewSession, SessionService


class AuthService:
    def __init__(
        self, customers: CustomerService, sessions: SessionService, carts: CartService,
        client: RedisClient, *, max_failures: int, lock_seconds: int,
    ) -> None:  # fmt: skip
        self._customers = customers
        self._sessions = sessions
        self._carts = carts
        self._client = client
        self._max_failures = max_failures
        self._lock_ms = lock_seconds * 1000
        self._count_failure = client.register_script(scripts.COUNT_FAILURE)

    async def login(
        self, tenant_id: UUID, email: str, password: str, *, ip_address: str | None = None,
        user_agent: str | None = None, anonymous_cart_token: str | None = None,
    ) -> NewSession:  # fmt: skip
        """A new session for these credentials; the visitor's anonymous cart, if any, joins
        the user's cart. After `max_failures` wrong attempts for an email within the lock
        window, even the right password is refused until it ends."""
        failures_key = Keys(tenant_id).login_failures(_lockout_name(email))
        with redis_unavailable("signing in"):
            failures = int(await self._client.get(failures_key) or 0)
            if failures >= self._max_failures:
                retry_ms = int(await self._client.pttl(failures_key))
                wait = max(retry_ms, 1000) / 1000
                raise AccountLockedError(
                    f"too many failed attempts; try again in {int(wait)} s",
                    retry_after_seconds=wait,
                )
        try:
            user = await self._customers.authenticate(tenant_id, email, password)
        except AccountLockedError:
            raise
        except AuthenticationError:
            with redis_unavailable("signing in"):
                await self._count_failure(keys=[failures_key], args=[self._lock_ms])
            raise
        with redis_unavailable("signing in"):
            await self._client.delete(failures_key)
        session = await self._sessions.create(
            tenant_id, user.id, user.email, user.role, vendor_id=user.vendor_id,
            ip_address=ip_address, user_agent=user_agent,
        )  # fmt: skip
        if anonymous_cart_token:
            await self._carts.merge(
                tenant_id, anonymous_cart(anonymous_cart_token), user_cart(user.id)
            )
        return session

    async def logout(self, tenant_id: UUID, token: str) -> bool:
        return await self._sessions.revoke(tenant_id, token)

    async def change_password(self, tenant_id: UUID, user_id: UUID, current: str, new: str) -> int:
        """Change the password and end every session of the user; returns how many ended."""
        await self._customers.change_password(tenant_id, user_id, current, new)
        return await self._sessions.revoke_all(tenant_id, user_id)


def _lockout_name(email: str) -> str:
    """Failures count per account, so every spelling of one address (case, fullwidth letters)
    shares one counter."""
    try:
        return normalise_email(email)
    except ValidationError:
        return email.strip().lower()
