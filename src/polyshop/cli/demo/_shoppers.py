"""Simulated shoppers: each one walks the shops through the real HTTP API as a visitor would
(browse, search, product pages, reviews, recommendations, cart, checkout, storefront events,
their account), and a shop manager reads the analytics now and then. Every answer goes into
`DemoStats` with its route group, latency and status."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from polyshop.cli.demo._stats import DemoStats

_WORDS = ("wireless", "premium", "classic", "eco", "pro", "compact", "leather", "smart",
          "lightweight", "headphones", "jacket", "lamp", "serum", "tent", "keyboard")  # fmt: skip
_KINDS = ("bought_together", "also_bought", "similar", "trending")
_DECLINE_SHARE = 0.03  # of checkouts pay with the test gateway's declining card


@dataclass(slots=True)
class Shop:
    slug: str
    admin_token: str
    categories: list[str]
    products: list[str]
    customers: list[str]  # emails: they all sign in with the seed password


@dataclass(slots=True)
class Account:
    token: str
    user_id: str
    address: dict[str, str] | None = None
    reviewed: set[str] = field(default_factory=set)


class Client:
    """One HTTP client for everyone (a connection pool to the server), timing every call."""

    def __init__(self, http: httpx.AsyncClient, stats: DemoStats) -> None:
        self.http = http
        self.stats = stats

    async def call(
        self, group: str, method: str, path: str, shop: str, *, token: str | None = None,
        cart: str | None = None, **kwargs: Any,
    ) -> httpx.Response | None:  # fmt: skip
        headers = {"X-Tenant": shop}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if cart:
            headers["X-Cart-Token"] = cart
        started = time.perf_counter()
        try:
            response: httpx.Response | None = await self.http.request(
                method, path, headers=headers, **kwargs
            )
        except httpx.HTTPError:
            response = None
        ended = time.perf_counter()
        status = response.status_code if response is not None else 0
        self.stats.record(group, ended, (ended - started) * 1000, status)
        return response


def _json(response: httpx.Response | None) -> Any:
    if response is None or not response.is_success or not response.content:
        return None
    return response.json()


class Shopper:
    def __init__(
        self, client: Client, shops: Sequence[Shop], password: str, rng: random.Random
    ) -> None:
        self._client = client
        self._shops = shops
        self._password = password
        self._rng = rng
        self._accounts: dict[tuple[str, str], Account] = {}

    async def run(self, stop: asyncio.Event) -> None:
        # Each shopper's first visit is a returning customer who buys: orders show up on the
        # dashboard in the first seconds even of a short run.
        buyer = True
        while not stop.is_set():
            await self.visit(buyer=buyer)
            buyer = False

    async def _sign_in(self, shop: Shop, email: str) -> Account | None:
        account = self._accounts.get((shop.slug, email))
        if account is not None:
            return account
        body = _json(await self._client.call(
            "sign-in", "POST", "/auth/login", shop.slug,
            json={"email": email, "password": self._password},
        ))  # fmt: skip
        if body is None:
            return None
        account = Account(body["token"], body["user_id"])
        self._accounts[(shop.slug, email)] = account
        return account

    async def visit(self, *, buyer: bool = False) -> None:
        """One visit: browse a listing, look at a few products, maybe buy (a `buyer` does)."""
        rng, call = self._rng, self._client.call
        shop = rng.choice(self._shops)
        account = None
        if shop.customers and (buyer or rng.random() < 0.7):
            account = await self._sign_in(shop, rng.choice(shop.customers))
        token = account.token if account else None
        cart = None if account else secrets.token_hex(16)
        session = f"demo-{secrets.token_hex(8)}"
        events: list[dict[str, Any]] = []

        def event(kind: str, **fields: Any) -> None:
            events.append({"event_id": str(uuid.uuid4()), "type": kind,
                           "occurred_at": datetime.now(UTC).isoformat(),
                           "customer_id": account.user_id if account else None,
                           "cart_token": cart, "session_id": session, **fields})  # fmt: skip

        params: dict[str, Any] = {"limit": 20}
        if shop.categories and rng.random() < 0.6:
            params["category_id"] = rng.choice(shop.categories)
        if rng.random() < 0.3:
            params["sort"] = rng.choice(("price_asc", "price_desc", "name"))
        listing = _json(await call("browse", "GET", "/products", shop.slug, token=token,
                                   params=params))  # fmt: skip
        if rng.random() < 0.2:
            await call("browse", "GET", "/categories", shop.slug)
        if listing and listing.get("next") and rng.random() < 0.3:
            await call("browse", "GET", listing["next"], shop.slug, token=token)
        if rng.random() < 0.5:
            word = rng.choice(_WORDS)
            await call("search", "GET", "/products", shop.slug, params={"q": word, "limit": 20})
            event("search", query=word)
        seen = [item["id"] for item in (listing or {}).get("items", [])]
        # Most views go to a few popular products (the first ones), the rest anywhere.
        picks = [shop.products[min(int(rng.paretovariate(1.2)) - 1, len(shop.products) - 1)]
                 if rng.random() < 0.6 or not seen else rng.choice(seen)
                 for _ in range(rng.randint(1, 4))]  # fmt: skip
        in_cart = 0
        for product in picks:
            page = _json(await call("product page", "GET", f"/products/{product}", shop.slug,
                                    token=token))  # fmt: skip
            if page is None:
                continue
            event("view", product_id=product, category_id=page.get("category_id"))
            if rng.random() < 0.3:
                await call("reviews", "GET", f"/products/{product}/reviews", shop.slug)
            if rng.random() < 0.2:
                await call("reviews", "GET", f"/products/{product}/rating", shop.slug)
            if rng.random() < 0.5:
                await call("recommendations", "GET", f"/products/{product}/recommendations",
                           shop.slug, params={"kind": rng.choice(_KINDS), "limit": 5})  # fmt: skip
            if rng.random() < 0.15 and page.get("slug"):
                await call("browse", "GET", f"/storefront/products/{page['slug']}", shop.slug)
            if (buyer and not in_cart) or rng.random() < 0.35:
                variants = [v for v in page.get("variants", []) if v["inventory_quantity"] > 0]
                line: dict[str, Any] = {"product_id": product, "quantity": rng.randint(1, 2)}
                if variants:
                    line["variant_id"] = rng.choice(variants)["id"]
                elif page.get("variants"):
                    continue
                added = await call("cart", "POST", "/cart/items", shop.slug, token=token,
                                   cart=cart, json=line)  # fmt: skip
                if added is not None and added.is_success:
                    in_cart += 1
                    event("add_to_cart", product_id=product, quantity=line["quantity"])
        if account is not None:
            await self._account(shop, account, in_cart, event, buyer=buyer)
        if events:
            await call("events", "POST", "/events", shop.slug, token=token,
                       json={"events": events})  # fmt: skip

    async def _account(
        self, shop: Shop, account: Account, in_cart: int, event: Any, *, buyer: bool
    ) -> None:
        rng, call, token = self._rng, self._client.call, account.token
        if rng.random() < 0.3:
            await call("account", "GET", "/me", shop.slug, token=token)
        if rng.random() < 0.3:
            await call("recommendations", "GET", "/me/recommendations", shop.slug, token=token)
        if rng.random() < 0.15:
            await call("account", "GET", "/orders", shop.slug, token=token)
        if in_cart and (buyer or rng.random() < 0.6):
            await call("cart", "GET", "/cart", shop.slug, token=token)
            if account.address is None:
                addresses = _json(await call("account", "GET", "/me/addresses", shop.slug,
                                             token=token)) or []  # fmt: skip
                if addresses:
                    a = addresses[0]
                    account.address = {
                        "firstName": a.get("first_name") or "Demo",
                        "lastName": a.get("last_name") or "Shopper",
                        "street": a["street_address"], "city": a["city"],
                        "postalCode": a["postal_code"], "country": a["country"],
                    }  # fmt: skip
            if account.address is not None:
                event("checkout_started")
                card = "card_declined" if rng.random() < _DECLINE_SHARE else "card"
                placed = await call("checkout", "POST", "/cart/checkout", shop.slug, token=token,
                                    json={"shipping_address": account.address,
                                          "shipping_method": rng.choice(("standard", "express")),
                                          "payment_method": card})  # fmt: skip
                if placed is not None and placed.status_code == 201:
                    self._client.stats.orders_placed += 1
                elif placed is not None and placed.status_code == 402:
                    self._client.stats.payments_declined += 1
        if rng.random() < 0.25:
            history = _json(await call("account", "GET", "/me/order-history", shop.slug,
                                       token=token)) or []  # fmt: skip
            delivered = [item["productId"] for order in history
                         if order.get("status") == "delivered" for item in order.get("items", [])
                         if item.get("productId") not in account.reviewed]  # fmt: skip
            if delivered and rng.random() < 0.5:
                product = rng.choice(delivered)
                account.reviewed.add(product)
                await call("reviews", "POST", f"/products/{product}/reviews", shop.slug,
                           token=token, json={"rating": rng.choices((3, 4, 5), (2, 3, 5))[0],
                                              "title": "Written during the demo"})  # fmt: skip


async def manager(client: Client, shops: Sequence[Shop], rng: random.Random,
                  stop: asyncio.Event) -> None:  # fmt: skip
    """A shop manager looking at today's analytics every few seconds."""
    while not stop.is_set():
        shop = rng.choice(shops)
        top = _json(await client.call(
            "analytics", "GET", "/analytics/top-products", shop.slug, token=shop.admin_token,
            params={"by": rng.choice(("views", "revenue")), "limit": 10},
        ))  # fmt: skip
        if top:
            await client.call("analytics", "GET", f"/analytics/products/{top[0]['product_id']}/funnel",
                              shop.slug, token=shop.admin_token)  # fmt: skip
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=2.0)
