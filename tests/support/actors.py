"""Actors of the HTTP API (a shop's admin, a customer) and the shop they call, built through
the API itself; for any test that talks to the app over httpx."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import PLATFORM_TOKEN

PASSWORD = "correct horse battery staple"
ADDRESS = {"firstName": "Ann", "lastName": "Lee", "street": "1 Main St", "city": "Springfield",
           "postalCode": "12345", "country": "US"}  # fmt: skip
RULES = {
    "tax": {"default_rate": "0.10"},
    "shipping": {"standard": {"price": "5.00", "free_over": "100.00"}},
    "discounts": {"WELCOME10": {"type": "percent", "value": "10"}},
}
PLATFORM = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


@dataclass
class Actor:
    """Someone calling the API of one shop: the shop's slug header and, once signed in, a token."""

    http: httpx.AsyncClient
    slug: str
    token: str | None = None
    user_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"X-Tenant": self.slug, **self.headers}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return {**headers, **(extra or {})}

    async def call(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
        params: Any = None,
    ) -> httpx.Response:  # fmt: skip
        return await self.http.request(
            method, path, json=json, headers=self._headers(headers), params=params
        )

    async def sign_in(self, email: str, password: str = PASSWORD) -> Actor:
        self.token = None  # a stale token would make even the login a 401
        body = ok(
            await self.call("POST", "/auth/login", json={"email": email, "password": password})
        )
        self.token, self.user_id = body["token"], body["user_id"]
        # Each actor authenticates by its bearer token; the shared client keeps no cookie.
        self.http.cookies.clear()
        return self


async def new_shop(http: httpx.AsyncClient) -> tuple[str, Actor]:
    """A shop created through the platform API, with its first admin signed in."""
    slug = f"shop-{uuid.uuid4().hex[:10]}"
    ok(
        await http.post("/platform/tenants", headers=PLATFORM, json={"slug": slug, "name": "Shop"}),
        201,
    )
    ok(await http.put(f"/platform/tenants/{slug}/settings", headers=PLATFORM, json=RULES), 204)
    email = f"admin@{slug}.test"
    registration = {"email": email, "password": PASSWORD, "first_name": "Ada", "last_name": "Min"}
    ok(
        await http.post(f"/platform/tenants/{slug}/admins", headers=PLATFORM, json=registration),
        201,
    )
    admin = await Actor(http, slug).sign_in(email)
    return slug, admin


async def new_customer(http: httpx.AsyncClient, slug: str, name: str = "ann") -> Actor:
    email = f"{name}-{uuid.uuid4().hex[:6]}@example.com"
    registration = {
        "email": email,
        "password": PASSWORD,
        "first_name": name.title(),
        "last_name": "Lee",
    }
    ok(await Actor(http, slug).call("POST", "/auth/register", json=registration), 202)
    return await Actor(http, slug).sign_in(email)
