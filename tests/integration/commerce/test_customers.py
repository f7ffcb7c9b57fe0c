"""Customer accounts: registration, authentication with lockout, profile, addresses."""

from __future__ import annotations

import pytest

from polyshop.domain.errors import (
    AccountLockedError,
    AuthenticationError,
    ConflictError,
    ValidationError,
)
from tests.support.shops import Shop, make_shop

PASSWORD = "correct horse battery staple"


async def test_register_normalises_the_email_and_hashes_with_argon2id(shop: Shop) -> None:
    user = await shop.app.customers.register(
        shop.tenant_id, "  Bob@Example.COM ", PASSWORD, "Bob", "Ray"
    )
    assert user.email == "bob@example.com"
    async with shop.app.database.unit_of_work(shop.tenant_id) as uow:
        cursor = await uow.connection.execute(
            "SELECT password_hash FROM users WHERE id = %s", (user.id,)
        )
        (password_hash,) = await cursor.fetchone()  # type: ignore[misc]
    assert password_hash.startswith("$argon2id$")
    assert PASSWORD not in password_hash
    with pytest.raises(ConflictError, match="account with this email"):
        await shop.app.customers.register(shop.tenant_id, "BOB@example.com", PASSWORD, "B", "R")
    # Per tenant: the same person may shop elsewhere.
    other = await make_shop(shop.app)
    await shop.app.customers.register(other.tenant_id, "bob@example.com", PASSWORD, "Bob", "Ray")


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "not a valid email"),
        ("dan@example.com", "short", "at least 10"),
        ("dan@example.com", "dan@example.com", "must not be your email"),
    ],
)
async def test_bad_registrations_are_refused(
    shop: Shop, email: str, password: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        await shop.app.customers.register(shop.tenant_id, email, password, "Dan", "Do")


async def test_authentication_counts_failures_and_locks(shop: Shop) -> None:
    customers, t = shop.app.customers, shop.tenant_id
    user = await customers.authenticate(t, "ANN@example.com", PASSWORD)
    assert user.id == shop.customer_id
    with pytest.raises(AuthenticationError, match="wrong email or password"):
        await customers.authenticate(t, "nobody@example.com", PASSWORD)
    for _ in range(5):
        with pytest.raises(AuthenticationError, match="wrong email or password"):
            await customers.authenticate(t, "ann@example.com", "wrong password!")
    with pytest.raises(AccountLockedError, match="too many failed attempts"):
        await customers.authenticate(t, "ann@example.com", PASSWORD)
    other = await make_shop(shop.app)
    # Another tenant's customer with the same email is a different account.
    assert (
        await customers.authenticate(other.tenant_id, "ann@example.com", PASSWORD)
    ).id == other.customer_id


async def test_a_success_resets_the_failure_count(shop: Shop) -> None:
    customers, t = shop.app.customers, shop.tenant_id
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            await customers.authenticate(t, "ann@example.com", "wrong password!")
    await customers.authenticate(t, "ann@example.com", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            await customers.authenticate(t, "ann@example.com", "wrong password!")
    await customers.authenticate(t, "ann@example.com", PASSWORD)


async def test_change_password(shop: Shop) -> None:
    customers, t = shop.app.customers, shop.tenant_id
    with pytest.raises(AuthenticationError):
        await customers.change_password(t, shop.customer_id, "not it at all", "a new long password")
    await customers.change_password(t, shop.customer_id, PASSWORD, "a new long password")
    with pytest.raises(AuthenticationError):
        await customers.authenticate(t, "ann@example.com", PASSWORD)
    await customers.authenticate(t, "ann@example.com", "a new long password")


async def test_profile_preferences_and_verification(shop: Shop) -> None:
    customers, t = shop.app.customers, shop.tenant_id
    await customers.update_profile(
        t, shop.customer_id, preferences={"theme": "dark"}, language="de"
    )
    await customers.update_profile(
        t, shop.customer_id, preferences={"notifications": {"email": True}}
    )
    profile = await customers.profile(t, shop.customer_id)
    assert profile["preferences"] == {"theme": "dark", "notifications": {"email": True}}
    assert profile["language"] == "de"
    with pytest.raises(ValidationError):
        await customers.update_profile(t, shop.customer_id, password_hash="x")
    assert not (await customers.get(t, shop.customer_id)).email_verified
    await customers.verify_email(t, shop.customer_id)
    assert (await customers.get(t, shop.customer_id)).email_verified
    await customers.update_details(t, shop.customer_id, first_name="Annie")
    assert (await customers.get(t, shop.customer_id)).first_name == "Annie"


async def test_one_default_address_per_type(shop: Shop) -> None:
    customers, t, user = shop.app.customers, shop.tenant_id, shop.customer_id
    base = {
        "street_address": "1 Main St",
        "city": "Springfield",
        "postal_code": "12345",
        "country": "us",
    }
    home = await customers.add_address(t, user, type="shipping", is_default=True, **base)
    work = await customers.add_address(t, user, type="shipping", is_default=True, **base)
    billing = await customers.add_address(t, user, type="billing", is_default=True, **base)
    defaults = {a.id for a in await customers.addresses(t, user) if a.is_default}
    assert defaults == {work.id, billing.id}
    await customers.set_default_address(t, user, home.id)
    defaults = {a.id for a in await customers.addresses(t, user) if a.is_default}
    assert defaults == {home.id, billing.id}
    assert home.country == "US"
    with pytest.raises(ValidationError, match="city"):
        await customers.add_address(t, user, type="billing", **{**base, "city": " "})
