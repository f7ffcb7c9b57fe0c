"""Accounts over HTTP: registration, sign-in and out, sessions, the caller's profile and
addresses, staff accounts (shop admins) and customer lookup."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import Field

from polyshop.api._common import (
    PROBLEMS,
    Model,
    Name,
    cursor_after,
    decode_position,
    page,
)
from polyshop.api._context import (
    SESSION_COOKIE,
    Allowed,
    Principal,
    Services,
    SignedIn,
    Tenant,
    rate_limit,
)
from polyshop.domain.identity import Permission, Role
from polyshop.services.customers import Address, User

router = APIRouter(tags=["accounts"], responses=PROBLEMS, dependencies=[Depends(rate_limit)])

StaffAdmin = Annotated[Principal, Depends(Allowed(Permission.MANAGE_STAFF))]
CustomerReader = Annotated[Principal, Depends(Allowed(Permission.READ_CUSTOMERS))]
ProfileWriter = Annotated[Principal, Depends(Allowed(Permission.WRITE_PROFILE))]
Email = Annotated[str, Field(min_length=3, max_length=255)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]
Phone = Annotated[str, Field(max_length=50)]
CartToken = Annotated[
    str | None,
    Header(alias="X-Cart-Token", min_length=16, max_length=256,
           description="An anonymous cart to merge into the account's cart"),
]  # fmt: skip


class Registration(Model):
    email: Email
    password: Password
    first_name: Name
    last_name: Name
    phone: Phone | None = None


class StaffIn(Registration):
    role: Literal["vendor_staff", "tenant_admin"]
    vendor_id: UUID | None = None


class Credentials(Model):
    email: Email
    password: Password


class SessionOut(Model):
    id: str = Field(description="A digest naming the session (never the token).")
    created_at: datetime
    last_activity: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str | None


class SignedInOut(Model):
    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (a scheme name)
    expires_at: datetime
    user_id: UUID
    role: str
    permissions: list[str]


class PasswordChange(Model):
    current_password: Password
    new_password: Password


class DetailsPatch(Model):
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None


class ProfileOut(Model):
    user: User
    avatar_url: str | None
    bio: str | None
    preferences: dict[str, Any]
    timezone: str | None
    language: str | None


class AddressIn(Model):
    type: Literal["billing", "shipping", "both"] = "both"
    street_address: Annotated[str, Field(min_length=1, max_length=255)]
    city: Annotated[str, Field(min_length=1, max_length=100)]
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]
    state: Annotated[str, Field(max_length=100)] | None = None
    first_name: Annotated[str, Field(max_length=100)] | None = None
    last_name: Annotated[str, Field(max_length=100)] | None = None
    is_default: bool = False


class RegistrationAccepted(Model):
    detail: str


@router.post(
    "/auth/register", status_code=status.HTTP_202_ACCEPTED, response_model=RegistrationAccepted
)
async def register(body: Registration, container: Services, tenant_id: Tenant) -> Any:
    """Open a customer account. The answer is the same whether or not the address already
    has an account here (202); the outcome goes to the address by email. Invalid input (a
    weak password, a malformed address) is still a 422."""
    await container.customers.sign_up(tenant_id, **body.model_dump())
    return {"detail": "check your email to finish opening your account"}


@router.post("/auth/login", response_model=SignedInOut)
async def login(
    body: Credentials, request: Request, response: Response, container: Services,
    tenant_id: Tenant, cart_token: CartToken = None,
) -> Any:  # fmt: skip
    """A session token in the body and in a Secure, HttpOnly, SameSite=Lax cookie."""
    signed = await container.auth.login(
        tenant_id, body.email, body.password,
        ip_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"), anonymous_cart_token=cart_token,
    )  # fmt: skip
    session = signed.session
    response.set_cookie(
        SESSION_COOKIE, signed.token, max_age=container.settings.session_max_seconds,
        secure=container.settings.api_cookie_secure, httponly=True, samesite="lax", path="/",
    )  # fmt: skip
    return {
        "token": signed.token, "expires_at": session.expires_at, "user_id": session.user_id,
        "role": session.role, "permissions": list(session.permissions),
    }  # fmt: skip


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(response: Response, container: Services, tenant_id: Tenant, who: SignedIn) -> None:
    await container.auth.logout(tenant_id, who.token)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/auth/sessions", response_model=list[SessionOut])
async def my_sessions(container: Services, tenant_id: Tenant, who: SignedIn) -> Any:
    sessions = await container.sessions.list(tenant_id, who.user_id)
    return [
        {"id": s.digest[:16], "created_at": s.created_at, "last_activity": s.last_activity,
         "expires_at": s.expires_at, "ip_address": s.ip_address, "user_agent": s.user_agent}
        for s in sessions
    ]  # fmt: skip


@router.delete("/auth/sessions", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out_everywhere(
    response: Response, container: Services, tenant_id: Tenant, who: SignedIn
) -> None:
    await container.sessions.revoke_all(tenant_id, who.user_id)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.put("/auth/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChange, response: Response, container: Services, tenant_id: Tenant,
    who: SignedIn,
) -> None:  # fmt: skip
    """Change the password; every session of the account ends, this one included."""
    await container.auth.change_password(
        tenant_id, who.user_id, body.current_password, body.new_password
    )
    response.delete_cookie(SESSION_COOKIE, path="/")


async def _profile(container: Services, tenant_id: UUID, user_id: UUID) -> dict[str, Any]:
    user = await container.customers.get(tenant_id, user_id)
    return {"user": user, **await container.customers.profile(tenant_id, user_id)}


@router.get("/me", response_model=ProfileOut)
async def my_profile(
    container: Services,
    tenant_id: Tenant,
    who: Annotated[Principal, Depends(Allowed(Permission.READ_PROFILE))],
) -> Any:
    return await _profile(container, tenant_id, who.user_id)


@router.patch("/me", response_model=ProfileOut)
async def update_me(
    body: DetailsPatch, container: Services, tenant_id: Tenant, who: ProfileWriter
) -> Any:
    await container.customers.update_details(
        tenant_id, who.user_id, **body.model_dump(exclude_unset=True)
    )
    return await _profile(container, tenant_id, who.user_id)


@router.get("/me/addresses", response_model=list[Address])
async def my_addresses(container: Services, tenant_id: Tenant, who: ProfileWriter) -> Any:
    return await container.customers.addresses(tenant_id, who.user_id)


@router.post("/me/addresses", status_code=status.HTTP_201_CREATED, response_model=Address)
async def add_address(
    body: AddressIn, container: Services, tenant_id: Tenant, who: ProfileWriter
) -> Any:
    return await container.customers.add_address(tenant_id, who.user_id, **body.model_dump())


@router.put("/me/addresses/{address_id}/default", status_code=status.HTTP_204_NO_CONTENT)
async def set_default_address(
    address_id: UUID, container: Services, tenant_id: Tenant, who: ProfileWriter
) -> None:
    await container.customers.set_default_address(tenant_id, who.user_id, address_id)


@router.delete("/me/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_address(
    address_id: UUID, container: Services, tenant_id: Tenant, who: ProfileWriter
) -> None:
    await container.customers.remove_address(tenant_id, who.user_id, address_id)


@router.post("/staff", status_code=status.HTTP_201_CREATED, response_model=User)
async def create_staff(body: StaffIn, container: Services, tenant_id: Tenant, _: StaffAdmin) -> Any:
    """A shop admin opens an account for another admin or for a vendor's staff."""
    return await container.customers.register(tenant_id, **body.model_dump())


class UserList(Model):
    items: list[User]
    next: str | None


@router.get("/customers", response_model=UserList)
async def list_customers(
    request: Request, response: Response, container: Services, tenant_id: Tenant,
    _: CustomerReader, role: Role | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:  # fmt: skip
    """The shop's accounts, oldest first, with keyset pages."""
    users = await container.customers.accounts(
        tenant_id, role=role, limit=limit, after=decode_position(cursor)
    )
    return page(request, response, users, cursor_after(users, limit, "created_at"))


@router.get("/customers/{user_id}", response_model=ProfileOut)
async def customer(user_id: UUID, container: Services, tenant_id: Tenant, _: CustomerReader) -> Any:
    return await _profile(container, tenant_id, user_id)
