"""Per-request context: the container, the tenant, the signed-in principal and the checks on it.

The tenant is resolved once per request (and cached briefly per process); every service call
takes it, and the unit of work puts it on the connection, where row-level security enforces it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import Depends, Request, Response

from polyshop.api._problems import unauthorized
from polyshop.bootstrap import Container
from polyshop.domain.errors import ForbiddenError, NotFoundError, ValidationError
from polyshop.domain.identity import Permission
from polyshop.settings import Settings

SESSION_COOKIE = "polyshop_session"
TENANT_HEADER = "X-Tenant"
PLATFORM_ADMIN = "platform_admin"

# Credentials are read from the headers directly rather than through FastAPI's security
# classes: each dependency costs a product page about 30 us. `_app` documents the schemes.
BEARER_SCHEME = "session"
COOKIE_SCHEME = "sessionCookie"
PLATFORM_SCHEME = "platformToken"


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: UUID
    email: str
    role: str
    permissions: tuple[str, ...]
    vendor_id: UUID | None
    token: str


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


Services = Annotated[Container, Depends(get_container)]


class TenantDirectory:
    """Host names and slugs to tenant ids, remembered for a few seconds per process so that a
    request costs no lookup; unknown names are not remembered (no memory for junk hosts)."""

    def __init__(self, container: Container, *, ttl_seconds: float, capacity: int = 10_000):
        self._container = container
        self._ttl = ttl_seconds
        self._capacity = capacity
        self._known: OrderedDict[str, tuple[UUID, float]] = OrderedDict()
        self._mode = container.settings.api_tenant_from

    async def resolve(self, host: str | None, slug: str | None) -> UUID:
        if slug and self._mode in ("header", "both"):
            key = "slug:" + slug.strip().lower()
        elif host and self._mode in ("host", "both"):
            key = "host:" + host.split(":", 1)[0].strip().lower()
        else:
            raise ValidationError(
                f"say which shop: the {TENANT_HEADER} header or a shop's host name",
                field=TENANT_HEADER,
            )
        now = time.monotonic()
        hit = self._known.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        tenant_id = await self._lookup(key)
        if tenant_id is None:
            raise NotFoundError("no such shop")
        self._known[key] = (tenant_id, now + self._ttl)
        self._known.move_to_end(key)
        while len(self._known) > self._capacity:
            self._known.popitem(last=False)
        return tenant_id

    async def _lookup(self, key: str) -> UUID | None:
        kind, name = key.split(":", 1)
        tenants = self._container.tenants
        if kind == "host":
            return await tenants.resolve_hostname(name)
        try:
            tenant = await tenants.get(name)
        except (NotFoundError, ValidationError):
            return None
        return tenant.id if tenant.status == "active" else None


async def current_tenant(request: Request) -> UUID:
    """The shop this request is for (404 when there is no such shop). As a dependency it is
    resolved once per request (FastAPI caches dependencies within a request)."""
    directory: TenantDirectory = request.app.state.tenant_directory
    headers = request.headers
    return await directory.resolve(headers.get("host"), headers.get(TENANT_HEADER))


Tenant = Annotated[UUID, Depends(current_tenant)]


def is_platform_token(settings: Settings, token: str) -> bool:
    expected = settings.platform_admin_token
    if expected is None:
        return False
    # Compare digests so the comparison takes the same time whatever the token's length.
    return hmac.compare_digest(
        hashlib.sha256(token.encode()).digest(),
        hashlib.sha256(expected.get_secret_value().encode()).digest(),
    )


def bearer_token(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


async def optional_principal(request: Request, tenant_id: Tenant) -> Principal | None:
    """The caller, when they sent a token. A bearer token that is not a live session is a 401;
    a stale cookie counts as no cookie, so a browser whose session ended can still browse
    and sign in (pages that need a session then answer 401 themselves)."""
    bearer = bearer_token(request)
    token = bearer or request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    if bearer is None:
        _refuse_cross_site(request)
    container: Container = request.app.state.container
    if is_platform_token(container.settings, token):
        return Principal(UUID(int=0), "", PLATFORM_ADMIN, (), None, token)
    session = await container.sessions.get(tenant_id, token)
    if session is None:
        if bearer is None:
            return None
        raise unauthorized("the session has expired or was signed out; sign in again")
    return Principal(
        session.user_id, session.email, session.role, session.permissions, session.vendor_id,
        token,
    )  # fmt: skip


def _refuse_cross_site(request: Request) -> None:
    """A change sent with the session cookie must come from the shop's own pages. SameSite=Lax
    keeps the cookie off other sites' requests, but shops on sibling subdomains of one
    platform domain are the same "site"; their pages' Origin still differs from this Host."""
    if request.method in _SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
        raise ForbiddenError(
            "a change with the session cookie must come from this shop's own pages"
        )


MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def signed_in(principal: MaybePrincipal) -> Principal:
    if principal is None:
        raise unauthorized()
    if principal.role == PLATFORM_ADMIN:
        raise ForbiddenError("the platform token manages shops; it does not act inside one")
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]


class Allowed:
    """A dependency admitting callers whose role has `permission` (403 otherwise)."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    async def __call__(self, principal: SignedIn) -> Principal:
        if self.permission not in principal.permissions:
            raise ForbiddenError(f"this needs the {self.permission} permission")
        return principal


async def platform_admin(request: Request) -> None:
    token = bearer_token(request)
    container: Container = request.app.state.container
    if token is None or not is_platform_token(container.settings, token):
        raise unauthorized("this needs the platform admin token")


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def rate_limit(
    request: Request, response: Response, container: Services, tenant_id: Tenant,
    principal: MaybePrincipal,
) -> None:  # fmt: skip
    """Changes are limited per caller and route (a sliding window in Redis); reads are served
    from caches and are not, so the limiter costs them nothing."""
    if request.method in _SAFE_METHODS:
        return
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    client = (
        f"user:{principal.user_id}"
        if principal is not None
        else f"ip:{request.client.host if request.client else 'unknown'}"
    )
    admission = await container.rate_limiter.admit(
        tenant_id, client, f"{request.method} {template}"
    )
    response.headers["RateLimit-Remaining"] = str(admission.remaining)
