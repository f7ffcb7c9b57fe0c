"""Read-through caches in Redis (the spec's product, search-result and API-response caches).

- TTLs are real Redis expiries.
- A miss is loaded by one caller only: it takes a short lock; the others wait for its value
  (or, past the wait, load without caching), so an expired hot key costs one load.
- If Redis is unreachable, reads go straight to the loader (PostgreSQL) and the cache reports
  itself degraded; nothing is written anywhere else.
- Product entries are deleted when a product changes; search and API entries carry a per-tenant
  generation, bumped on any catalog change, so one INCR retires them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from prometheus_client import Counter

from polyshop.adapters.redis import UNAVAILABLE, Keys, RedisClient
from polyshop.codec import dumps
from polyshop.services.catalog import CatalogService, Page, ProductQuery

log = logging.getLogger(__name__)

CACHE_REQUESTS = Counter(
    "polyshop_cache_requests",
    "Cache lookups by cache and outcome (hit, miss, wait_hit, bypass).",
    ["cache", "outcome"],
)
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


class ReadThroughCache:
    def __init__(
        self, client: RedisClient, namespace: str, ttl_seconds: int, *, generational: bool = False,
        lock_ms: int = 5000, wait_ms: int = 2000,
    ) -> None:  # fmt: skip
        self._client = client
        self.namespace = namespace
        self._ttl = ttl_seconds
        self._generational = generational
        self._lock_ms = lock_ms
        self._wait_ms = wait_ms
        self._release = client.register_script(_RELEASE)
        self.degraded = False

    async def get_or_load(
        self, tenant_id: UUID, key: str, loader: Callable[[], Awaitable[Any]]
    ) -> Any:
        return json.loads(await self.get_or_load_json(tenant_id, key, loader))

    async def get_or_load_json(
        self, tenant_id: UUID, key: str, loader: Callable[[], Awaitable[Any]]
    ) -> str:
        """The cached value as its JSON text (what an HTTP response can send as it is)."""
        try:
            full = await self._key(tenant_id, key)
            raw = await self._client.get(full)
        except UNAVAILABLE:
            return await self._bypass(loader)
        self.degraded = False
        if raw is not None:
            CACHE_REQUESTS.labels(self.namespace, "hit").inc()
            return _text(raw)
        CACHE_REQUESTS.labels(self.namespace, "miss").inc()
        token = secrets.token_hex(8)
        lock = f"{full}:lock"
        try:
            leader = await self._client.set(lock, token, nx=True, px=self._lock_ms)
        except UNAVAILABLE:
            return await self._bypass(loader)
        if leader:
            try:
                encoded = dumps(await loader())
                await self._client.set(full, encoded, ex=self._ttl)
                return encoded
            finally:
                with contextlib.suppress(*UNAVAILABLE):
                    await self._release(keys=[lock], args=[token])
        return await self._wait_for(full, loader)

    async def _wait_for(self, full: str, loader: Callable[[], Awaitable[Any]]) -> str:
        deadline = time.monotonic() + self._wait_ms / 1000
        delay = 0.005
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
            try:
                raw = await self._client.get(full)
            except UNAVAILABLE:
                return await self._bypass(loader)
            if raw is not None:
                CACHE_REQUESTS.labels(self.namespace, "wait_hit").inc()
                return _text(raw)
        # The leader is slow or gone: answer without caching rather than make the caller wait.
        return dumps(await loader())

    async def _bypass(self, loader: Callable[[], Awaitable[Any]]) -> str:
        if not self.degraded:
            log.warning("cache %s: redis unavailable, reading from the source", self.namespace)
        self.degraded = True
        CACHE_REQUESTS.labels(self.namespace, "bypass").inc()
        return dumps(await loader())

    async def _key(self, tenant_id: UUID, key: str) -> str:
        keys = Keys(tenant_id)
        if not self._generational:
            return keys.cache(self.namespace, key)
        generation = await self._client.get(keys.cache_generation(self.namespace))
        return keys.cache(self.namespace, f"g{int(generation or 0)}:{key}")

    async def invalidate(self, tenant_id: UUID, keys: Collection[str]) -> None:
        if keys:
            await self._client.delete(*(Keys(tenant_id).cache(self.namespace, k) for k in keys))

    async def invalidate_all(self, tenant_id: UUID) -> None:
        await self._client.incr(Keys(tenant_id).cache_generation(self.namespace))


def _text(raw: str | bytes) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def query_fingerprint(query: ProductQuery) -> str:
    return hashlib.sha256(dumps(asdict(query)).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class PageEntry:
    """A product page ready to send: its JSON, an ETag of it, and who may see it."""

    body: str
    etag: str
    status: str
    vendor_id: str


class CatalogReads:
    """The catalog's hot read paths, served from the caches; also the listener that keeps
    those caches honest when products change.

    Product pages have a second, in-process tier in front of Redis, kept `local_seconds`
    (0 turns it off): a page changed by another process may be served for that long. Prices
    are never taken from it: carts and checkout price from PostgreSQL."""

    def __init__(
        self, catalog: CatalogService, products: ReadThroughCache, searches: ReadThroughCache,
        *, local_seconds: float = 0.0, local_capacity: int = 10_000,
    ) -> None:  # fmt: skip
        self._catalog = catalog
        self.products = products
        self.searches = searches
        self._local_seconds = local_seconds
        self._local_capacity = local_capacity
        self._local: OrderedDict[tuple[UUID, UUID], tuple[PageEntry, float]] = OrderedDict()

    async def product_page_entry(self, tenant_id: UUID, product_id: UUID) -> PageEntry:
        key = (tenant_id, product_id)
        now = time.monotonic()
        hit = self._local.get(key)
        if hit is not None and hit[1] > now:
            CACHE_REQUESTS.labels("product-local", "hit").inc()
            return hit[0]
        body = await self.product_page_json(tenant_id, product_id)
        head = json.loads(body)
        etag = '"' + hashlib.blake2b(body.encode(), digest_size=12).hexdigest() + '"'
        entry = PageEntry(body, etag, str(head["status"]), str(head["vendor_id"]))
        if self._local_seconds > 0:
            self._local[key] = (entry, now + self._local_seconds)
            self._local.move_to_end(key)
            while len(self._local) > self._local_capacity:
                self._local.popitem(last=False)
        return entry

    async def product_page(self, tenant_id: UUID, product_id: UUID) -> dict[str, Any]:
        page: dict[str, Any] = await self.products.get_or_load(
            tenant_id, str(product_id),
            lambda: self._catalog.product(tenant_id, product_id=product_id),
        )  # fmt: skip
        return page

    async def product_page_json(self, tenant_id: UUID, product_id: UUID) -> str:
        """The same page as JSON text, straight from the cache."""
        return await self.products.get_or_load_json(
            tenant_id, str(product_id),
            lambda: self._catalog.product(tenant_id, product_id=product_id),
        )  # fmt: skip

    async def search(self, tenant_id: UUID, query: ProductQuery) -> dict[str, Any]:
        async def load() -> dict[str, Any]:
            page: Page = await self._catalog.list_products(tenant_id, query)
            return {"items": [asdict(item) for item in page.items], "next_cursor": page.next_cursor}

        result: dict[str, Any] = await self.searches.get_or_load(
            tenant_id, query_fingerprint(query), load
        )
        return result

    async def products_changed(
        self, tenant_id: UUID, product_ids: Collection[UUID], *, listings: bool = True
    ) -> None:
        """Forget cached pages of these products and, unless only their stock changed, every
        cached search of the tenant."""
        for product_id in product_ids:
            self._local.pop((tenant_id, product_id), None)
        try:
            await self.products.invalidate(tenant_id, [str(p) for p in product_ids])
            if listings:
                await self.searches.invalidate_all(tenant_id)
        except UNAVAILABLE:
            # Nothing repeats this: the entries stay stale until their TTL expires.
            log.warning("could not invalidate cached products of tenant %s", tenant_id)
