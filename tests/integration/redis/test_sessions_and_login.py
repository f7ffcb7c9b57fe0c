"""Sessions with sliding and absolute expiry, revocation, and the Redis login lockout."""

from __future__ import annotations

import asyncio

import pytest

from polyshop import bootstrap
from polyshop.adapters.redis import Keys
from polyshop.domain.errors import AccountLockedError, AuthenticationError
from polyshop.services.sessions import SessionService
from tests.support.shops import make_shop

PASSWORD = "correct horse battery staple"


async def test_login_creates_a_session_with_role_and_permissions(rapp: bootstrap.Container) -> None:
    shop = await make_shop(rapp)
    new = await rapp.auth.login(shop.tenant_id, "ANN@example.com", PASSWORD, ip_address="10.0.0.1",
                                user_agent="pytest")  # fmt: skip
    session = await rapp.sessions.get(shop.tenant_id, new.token)
    assert session is not None
    assert (session.user_id, session.role, session.ip_address) == (
        shop.customer_id,
        "customer",
        "10.0.0.1",
    )
    assert "write:orders" in session.permissions
    # Redis keeps a digest of the token, never the token itself.
    keys = [k async for k in _scan(rapp, shop.tenant_id)]
    assert keys
    assert all(new.token not in key for key in keys)
    # Another tenant does not know this token.
    other = await make_shop(rapp)
    assert await rapp.sessions.get(other.tenant_id, new.token) is None


async def _scan(app: bootstrap.Container, tenant_id: object) -> object:
    pattern = f"ps:{{{tenant_id}}}:*"
    async for key in app.redis.scan_iter(match=pattern, count=1000):
        yield key


async def test_sessions_slide_but_never_outlive_their_absolute_end(
    rapp: bootstrap.Container,
) -> None:
    shop = await make_shop(rapp)
    short = SessionService(rapp.redis, idle_seconds=1, max_seconds=3)
    new = await short.create(shop.tenant_id, shop.customer_id, "ann@example.com", "customer")
    for _ in range(4):  # used every 0.6 s: the 1 s idle timeout keeps sliding
        await asyncio.sleep(0.6)
        assert await short.get(shop.tenant_id, new.token) is not None
    await asyncio.sleep(0.8)  # past 3 s in total: the absolute end wins
    assert await short.get(shop.tenant_id, new.token) is None

    idle = await short.create(shop.tenant_id, shop.customer_id, "ann@example.com", "customer")
    await asyncio.sleep(1.2)
    assert await short.get(shop.tenant_id, idle.token) is None
    ttl = await rapp.redis.pttl(Keys(shop.tenant_id).session(idle.token))
    assert ttl == -2  # a real Redis expiry removed it


async def test_revoke_one_and_revoke_all_on_password_change(rapp: bootstrap.Container) -> None:
    shop = await make_shop(rapp)
    t = shop.tenant_id
    first = await rapp.auth.login(t, "ann@example.com", PASSWORD)
    second = await rapp.auth.login(t, "ann@example.com", PASSWORD)
    third = await rapp.auth.login(t, "ann@example.com", PASSWORD)
    assert len(await rapp.sessions.list(t, shop.customer_id)) == 3
    assert await rapp.auth.logout(t, first.token)
    assert not await rapp.auth.logout(t, first.token)
    assert await rapp.sessions.get(t, first.token) is None
    assert [s.digest for s in await rapp.sessions.list(t, shop.customer_id)] == sorted(
        [s.session.digest for s in (second, third)],
        key=lambda d: [second.session.digest, third.session.digest].index(d),
    )
    ended = await rapp.auth.change_password(t, shop.customer_id, PASSWORD, "a brand new passphrase")
    assert ended == 2
    assert await rapp.sessions.get(t, second.token) is None
    assert await rapp.sessions.get(t, third.token) is None
    assert await rapp.sessions.list(t, shop.customer_id) == []


async def test_login_lockout_after_repeated_failures(rapp: bootstrap.Container) -> None:
    shop = await make_shop(rapp)
    t = shop.tenant_id
    for _ in range(4):
        with pytest.raises(AuthenticationError, match="wrong email or password"):
            await rapp.auth.login(t, "ann@example.com", "not the password")
    await rapp.auth.login(t, "ann@example.com", PASSWORD)  # success resets the count
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            await rapp.auth.login(t, "ann@example.com", "not the password")
    with pytest.raises(AccountLockedError, match="try again in"):
        await rapp.auth.login(t, "ann@example.com", PASSWORD)
    ttl = await rapp.redis.pttl(Keys(t).login_failures("ann@example.com"))
    assert 0 < ttl <= rapp.settings.login_lock_seconds * 1000
    # Unknown emails are counted too, so guessing addresses is throttled the same way.
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            await rapp.auth.login(t, "nobody@example.com", "whatever it is")
    with pytest.raises(AccountLockedError):
        await rapp.auth.login(t, "nobody@example.com", "whatever it is")
