"""Customer accounts: registration, authentication, profile, preferences, addresses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from psycopg.rows import class_row, dict_row
from psycopg.types.json import Jsonb

from polyshop.adapters.postgres import Database, domain_errors
from polyshop.domain.credentials import check_password, normalise_email, visible_name
from polyshop.domain.errors import (
    AccountLockedError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from polyshop.domain.events import Aggregate, Event
from polyshop.domain.identity import Role
from polyshop.ports import Mailer, Message

AddressType = Literal["billing", "shipping", "both"]


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: str
    first_name: str
    last_name: str
    role: str
    vendor_id: UUID | None
    is_active: bool
    email_verified: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Address:
    id: UUID
    type: str
    first_name: str | None
    last_name: str | None
    street_address: str
    city: str
    state: str | None
    postal_code: str
    country: str
    is_default: bool

    def as_document(self) -> dict[str, Any]:
        """The shape orders keep (the spec's order document's `addresses`)."""
        return {
            "firstName": self.first_name,
            "lastName": self.last_name,
            "street": self.street_address,
            "city": self.city,
            "state": self.state,
            "postalCode": self.postal_code,
            "country": self.country,
        }


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)


_USER_COLUMNS = (
    "id, email, first_name, last_name, role, vendor_id, is_active, email_verified, created_at"
)
_ADDRESS_COLUMNS = (
    "id, type, first_name, last_name, street_address, city, state, postal_code, country, is_default"
)
# Verified against when the email is unknown, so both paths cost one argon2 verification.
_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("polyshop-dummy-password")


class CustomerService:
    def __init__(
        self, database: Database, lockout: LockoutPolicy | None = None, *,
        mailer: Mailer | None = None,
    ) -> None:  # fmt: skip
        self._database = database
        self._lockout = lockout or LockoutPolicy()
        self._mailer = mailer

    async def sign_up(
        self,
        tenant_id: UUID,
        email: str,
        password: str,
        first_name: str,
        last_name: str,
        *,
        phone: str | None = None,
        shop_name: str = "the shop",
    ) -> None:
        """Self-registration that does not tell whether an account exists: the caller hears
        the same either way, and the address's owner learns the outcome by email (a welcome,
        or a note that they already have an account). Bad input is still refused at once: it
        says nothing about other people's accounts."""
        address = normalise_email(email)
        try:
            user = await self.register(
                tenant_id, address, password, first_name, last_name, phone=phone
            )
        except ConflictError:
            subject, body = (
                f"Someone tried to open an account at {shop_name} with this address",
                "You already have an account. If it was you, sign in or reset your password;"
                " if not, you can ignore this message.",
            )
        else:
            subject, body = (
                f"Welcome to {shop_name}",
                f"Your account is open, {user.first_name}. You can sign in now.",
            )
        if self._mailer is not None:
            await self._mailer.send(Message(tenant_id, address, subject, body))

    async def register(
        self, tenant_id: UUID, email: str, password: str, first_name: str, last_name: str, *,
        phone: str | None = None, role: Role = Role.CUSTOMER, vendor_id: UUID | None = None,
    ) -> User:  # fmt: skip
        email = normalise_email(email)
        first_name = visible_name(first_name, field="first_name")
        last_name = visible_name(last_name, field="last_name")
        check_password(password, email=email, names=(first_name, last_name))
        password_hash = await asyncio.to_thread(_hasher.hash, password)
        async with self._database.unit_of_work(tenant_id) as uow:
            async with uow.connection.cursor(row_factory=class_row(User)) as cursor:
                with domain_errors():
                    await cursor.execute(
                        "INSERT INTO users (tenant_id, email, password_hash, first_name, last_name,"
                        " phone, role, vendor_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                        f" RETURNING {_USER_COLUMNS}",
                        (tenant_id, email, password_hash, first_name, last_name,
                         phone, str(Role(role)), vendor_id),
                    )  # fmt: skip
                user = await cursor.fetchone()
            assert user is not None
            await uow.connection.execute(
                "INSERT INTO user_profiles (tenant_id, user_id) VALUES (%s, %s)",
                (tenant_id, user.id),
            )
            await uow.append_event(
                Aggregate.USER, user.id, Event.USER_REGISTERED, {"role": str(role)}
            )
            await uow.commit()
        return user

    async def authenticate(self, tenant_id: UUID, email: str, password: str) -> User:
        """The user for these credentials; failures are counted and lock the account for a while."""
        try:
            email = normalise_email(email)
        except ValidationError:
            raise AuthenticationError("wrong email or password") from None
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT id, password_hash, locked_until, is_active FROM users"
                " WHERE lower(email) = %s FOR UPDATE",
                (email,),
            )
            row = await cursor.fetchone()
            now = datetime.now(UTC)
            if row is None:
                await asyncio.to_thread(_verify, _DUMMY_HASH, password)
                raise AuthenticationError("wrong email or password")
            user_id, password_hash, locked_until, is_active = row
            if locked_until is not None and locked_until > now:
                raise AccountLockedError(
                    f"too many failed attempts; try again after {locked_until:%H:%M:%S} UTC",
                    retry_after_seconds=(locked_until - now).total_seconds(),
                )
            if not await asyncio.to_thread(_verify, password_hash, password) or not is_active:
                await uow.connection.execute(
                    "UPDATE users SET failed_login_attempts = failed_login_attempts + 1,"
                    " locked_until = CASE WHEN failed_login_attempts + 1 >= %s THEN %s"
                    " ELSE locked_until END WHERE id = %s",
                    (self._lockout.max_failures, now + self._lockout.lock_for, user_id),
                )
                # The user document shows the failed attempts: the relay must hear of them.
                await uow.append_event(Aggregate.USER, user_id, Event.USER_SIGN_IN_FAILED, {})
                await uow.commit()
                raise AuthenticationError("wrong email or password")
            new_hash = (
                await asyncio.to_thread(_hasher.hash, password)
                if _hasher.check_needs_rehash(password_hash)
                else password_hash
            )
            await uow.connection.execute(
                "UPDATE users SET failed_login_attempts = 0, locked_until = NULL,"
                " last_login_at = %s, password_hash = %s WHERE id = %s",
                (now, new_hash, user_id),
            )
            # ... and the last sign-in (without this event the document kept the old one).
            await uow.append_event(Aggregate.USER, user_id, Event.USER_SIGNED_IN, {})
            user = await self._get(uow.connection, user_id)
            await uow.commit()
        return user

    async def change_password(self, tenant_id: UUID, user_id: UUID, current: str, new: str) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT password_hash, email, first_name, last_name FROM users"
                " WHERE id = %s FOR UPDATE",
                (user_id,),
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("user not found")
            if not await asyncio.to_thread(_verify, row[0], current):
                raise AuthenticationError("the current password is wrong")
            check_password(new, email=row[1], names=(row[2], row[3]))
            new_hash = await asyncio.to_thread(_hasher.hash, new)
            await uow.connection.execute(
                "UPDATE users SET password_hash = %s WHERE id = %s", (new_hash, user_id)
            )
            await uow.append_event(Aggregate.USER, user_id, Event.USER_PASSWORD_CHANGED, {})
            await uow.commit()

    async def get(self, tenant_id: UUID, user_id: UUID) -> User:
        async with self._database.unit_of_work(tenant_id) as uow:
            return await self._get(uow.connection, user_id)

    async def _get(self, connection: Any, user_id: UUID) -> User:
        async with connection.cursor(row_factory=class_row(User)) as cursor:
            await cursor.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
            user: User | None = await cursor.fetchone()
        if user is None:
            raise NotFoundError("user not found")
        return user

    async def accounts(
        self, tenant_id: UUID, *, role: Role | None = None, limit: int = 20,
        after: tuple[datetime, UUID] | None = None,
    ) -> list[User]:  # fmt: skip
        """Accounts oldest first (optionally of one role); pass the last (created_at, id) on."""
        if not 1 <= limit <= 100:
            raise ValidationError("limit must be between 1 and 100", field="limit")
        conditions: list[str] = ["true"]
        params: list[Any] = []
        if role is not None:
            conditions.append("role = %s")
            params.append(str(Role(role)))
        if after is not None:
            conditions.append("(created_at, id) > (%s, %s)")
            params.extend(after)
        async with self._database.unit_of_work(tenant_id) as uow:
            async with uow.connection.cursor(row_factory=class_row(User)) as cursor:
                await cursor.execute(
                    f"SELECT {_USER_COLUMNS} FROM users WHERE {' AND '.join(conditions)}"
                    " ORDER BY created_at, id LIMIT %s",
                    (*params, limit),
                )
                return await cursor.fetchall()

    async def verify_email(self, tenant_id: UUID, user_id: UUID) -> None:
        await self._update_user(
            tenant_id, user_id, {"email_verified": True}, Event.USER_EMAIL_VERIFIED
        )

    async def update_details(
        self, tenant_id: UUID, user_id: UUID, *, first_name: str | None = None,
        last_name: str | None = None, phone: str | None = None,
    ) -> None:  # fmt: skip
        changes = {
            k: v
            for k, v in (("first_name", first_name), ("last_name", last_name), ("phone", phone))
            if v is not None
        }
        for field in ("first_name", "last_name"):
            if field in changes:
                changes[field] = visible_name(str(changes[field]), field=field)
        if changes:
            await self._update_user(tenant_id, user_id, changes, Event.USER_UPDATED)

    async def _update_user(
        self, tenant_id: UUID, user_id: UUID, changes: dict[str, Any], event: Event
    ) -> None:
        assignments = ", ".join(f"{column} = %s" for column in changes)
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                cursor = await uow.connection.execute(
                    f"UPDATE users SET {assignments} WHERE id = %s", (*changes.values(), user_id)
                )
            if cursor.rowcount == 0:
                raise NotFoundError("user not found")
            await uow.append_event(Aggregate.USER, user_id, event, {"fields": sorted(changes)})
            await uow.commit()

    async def profile(self, tenant_id: UUID, user_id: UUID) -> dict[str, Any]:
        async with self._database.unit_of_work(tenant_id) as uow:
            async with uow.connection.cursor(row_factory=dict_row) as cursor:
                await cursor.execute(
                    "SELECT avatar_url, bio, preferences, timezone, language FROM user_profiles"
                    " WHERE user_id = %s",
                    (user_id,),
                )
                row = await cursor.fetchone()
        if row is None:
            raise NotFoundError("user not found")
        return row

    async def update_profile(
        self, tenant_id: UUID, user_id: UUID, *, preferences: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:  # fmt: skip
        """Change profile fields; `preferences` is merged (deep for one level) into what is there."""
        allowed = {"avatar_url", "bio", "timezone", "language"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValidationError(f"cannot change {', '.join(sorted(unknown))}", field=min(unknown))
        assignments = [f"{column} = %s" for column in fields]
        params: list[Any] = list(fields.values())
        if preferences is not None:
            if not isinstance(preferences, dict):
                raise ValidationError("preferences must be an object", field="preferences")
            assignments.append("preferences = preferences || %s")
            params.append(Jsonb(preferences))
        if not assignments:
            return
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                cursor = await uow.connection.execute(
                    f"UPDATE user_profiles SET {', '.join(assignments)} WHERE user_id = %s",
                    (*params, user_id),
                )
            if cursor.rowcount == 0:
                raise NotFoundError("user not found")
            await uow.append_event(
                Aggregate.USER, user_id, Event.USER_PROFILE_UPDATED, {"fields": sorted(fields)}
            )
            await uow.commit()

    async def add_address(
        self, tenant_id: UUID, user_id: UUID, *, type: AddressType, street_address: str,
        city: str, postal_code: str, country: str, state: str | None = None,
        first_name: str | None = None, last_name: str | None = None, is_default: bool = False,
    ) -> Address:  # fmt: skip
        for field, value in (("street_address", street_address), ("city", city),
                             ("postal_code", postal_code), ("country", country)):  # fmt: skip
            if not value.strip():
                raise ValidationError(f"{field.replace('_', ' ')} must not be blank", field=field)
        async with self._database.unit_of_work(tenant_id) as uow:
            await _lock_user(uow.connection, user_id)
            if is_default:
                await _clear_default(uow.connection, user_id, type)
            async with uow.connection.cursor(row_factory=class_row(Address)) as cursor:
                with domain_errors():
                    await cursor.execute(
                        "INSERT INTO user_addresses (tenant_id, user_id, type, first_name, last_name,"
                        " street_address, city, state, postal_code, country, is_default)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                        f" RETURNING {_ADDRESS_COLUMNS}",
                        (tenant_id, user_id, type, first_name, last_name, street_address, city,
                         state, postal_code, country.strip().upper(), is_default),
                    )  # fmt: skip
                address = await cursor.fetchone()
            assert address is not None
            await uow.append_event(
                Aggregate.USER, user_id, Event.USER_ADDRESS_ADDED, {"address_id": address.id}
            )
            await uow.commit()
        return address

    async def set_default_address(self, tenant_id: UUID, user_id: UUID, address_id: UUID) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            await _lock_user(uow.connection, user_id)
            cursor = await uow.connection.execute(
                "SELECT type FROM user_addresses WHERE id = %s AND user_id = %s",
                (address_id, user_id),
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("address not found")
            await _clear_default(uow.connection, user_id, row[0])
            await uow.connection.execute(
                "UPDATE user_addresses SET is_default = true WHERE id = %s", (address_id,)
            )
            await uow.append_event(
                Aggregate.USER, user_id, Event.USER_DEFAULT_ADDRESS_SET, {"address_id": address_id}
            )
            await uow.commit()

    async def remove_address(self, tenant_id: UUID, user_id: UUID, address_id: UUID) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "DELETE FROM user_addresses WHERE id = %s AND user_id = %s", (address_id, user_id)
            )
            if cursor.rowcount == 0:
                raise NotFoundError("address not found")
            await uow.append_event(
                Aggregate.USER, user_id, Event.USER_ADDRESS_REMOVED, {"address_id": address_id}
            )
            await uow.commit()

    async def addresses(self, tenant_id: UUID, user_id: UUID) -> list[Address]:
        async with self._database.unit_of_work(tenant_id) as uow:
            async with uow.connection.cursor(row_factory=class_row(Address)) as cursor:
                await cursor.execute(
                    f"SELECT {_ADDRESS_COLUMNS} FROM user_addresses WHERE user_id = %s"
                    " ORDER BY is_default DESC, created_at",
                    (user_id,),
                )
                return await cursor.fetchall()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def _lock_user(connection: Any, user_id: UUID) -> None:
    """Serialise address changes of one user (the one-default rule spans rows)."""
    cursor = await connection.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (user_id,))
    if await cursor.fetchone() is None:
        raise NotFoundError("user not found")


async def _clear_default(connection: Any, user_id: UUID, address_type: str) -> None:
    await connection.execute(
        "UPDATE user_addresses SET is_default = false WHERE user_id = %s AND type = %s"
        " AND is_default",
        (user_id, address_type),
    )
