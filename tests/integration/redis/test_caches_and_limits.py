"""Read-through caches (hits, misses, invalidation, one loader for an expired hot key) and the
rate limiter under concurrent calls."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from prometheus_client import REGISTRY
from redis.crc import key_slot

from polyshop import bootstrap
from polyshop.services.catalog import ProductQuery
from polyshop.services.catalog_reads import ReadThroughCache
from polyshop.services.ratelimit import RateLimitedError, RateLimiter
from tests.support.shops import make_shop


def _count(cache: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "polyshop_cache_requests_total", {"cache": cache, "outcome": outcome}
        )
        or 0.0
    )


async def test_product_pages_are_cached_and_invalidated_on_change(
    rapp: bootstrap.Container,
) -> None:
    shop = await make_shop(rapp)
    reads, t, product = rapp.catalog_reads, shop.tenant_id, shop.products["speaker"]
    hits, misses = _count("product", "hit"), _count("product", "miss")
    first = await reads.product_page(t, product)
    second = await reads.product_page(t, product)
    assert first == second
    assert first["price"] == "30.00"  # money stays an exact decimal string in the cache
    assert (_count("product", "hit") - hits, _count("product", "miss") - misses) == (1, 1)
    await rapp.catalog.update_product(t, product, price="29.00")
    assert (await reads.product_page(t, product))["price"] == "29.00"
    # Stock changes invalidate too: the cached page shows the stock after the order.
    await rapp.checkout.place_order(t, shop.request(shop.line("speaker", 3)))
    assert (await reads.product_page(t, product))["inventory_quantity"] == 7


async def test_search_results_are_cached_until_the_catalog_changes(
    rapp: bootstrap.Container,
) -> None:
    shop = await make_shop(rapp)
    reads, t = rapp.catalog_reads, shop.tenant_id
    query = ProductQuery(sort="price_asc")
    before = _count("search", "hit")
    listed = await reads.search(t, query)
    assert (await reads.search(t, query)) == listed
    assert _count("search", "hit") - before == 1
    await rapp.catalog.update_product(t, shop.products["cable"], price="99.00")
    refreshed = await reads.search(t, query)
    assert [i["sku"] for i in refreshed["items"]][-1] == "CABLE"
    assert refreshed != listed


async def test_an_expired_hot_key_is_loaded_once(rapp: bootstrap.Container) -> None:
    cache = ReadThroughCache(rapp.redis, f"stampede-{uuid4().hex[:6]}", 1)
    tenant = uuid4()
    loads = 0

    async def slow_loader() -> dict[str, Any]:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.2)
        return {"price": Decimal("9.99"), "load": loads}

    await cache.get_or_load(tenant, "hot", slow_loader)
    await asyncio.sleep(1.2)  # the real TTL expires
    results = await asyncio.gather(
        *(cache.get_or_load(tenant, "hot", slow_loader) for _ in range(50))
    )
    assert loads == 2  # the first fill, then exactly one reload for 50 concurrent readers
    assert all(r == {"price": "9.99", "load": 2} for r in results)


async def test_the_limiter_never_admits_more_than_the_limit(rapp: bootstrap.Container) -> None:
    limiter = RateLimiter(rapp.redis, limit=10, window_seconds=1)
    tenant, client = uuid4(), "203.0.113.7"
    outcomes = await asyncio.gather(
        *(limiter.admit(tenant, client, "POST /orders") for _ in range(40)), return_exceptions=True
    )
    admitted = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(admitted) == 10
    assert all(isinstance(r, RateLimitedError) and 0 < r.retry_after_seconds <= 1 for r in refused)
    assert sorted(a.remaining for a in admitted) == list(range(10))  # type: ignore[union-attr]
    # Other clients, routes and tenants have their own windows.
    await limiter.admit(tenant, "198.51.100.1", "POST /orders")
    await limiter.admit(tenant, client, "GET /products")
    await limiter.admit(uuid4(), client, "POST /orders")
    await asyncio.sleep(1.05)
    await limiter.admit(tenant, client, "POST /orders")
    with pytest.raises(RateLimitedError):
        for _ in range(10):
            await limiter.admit(tenant, client, "POST /orders")


async def test_all_keys_of_a_tenant_share_one_cluster_slot(rapp: bootstrap.Container) -> None:
    shop = await make_shop(rapp)
    await rapp.auth.login(shop.tenant_id, "ann@example.com", "correct horse battery staple")
    await rapp.catalog_reads.product_page(shop.tenant_id, shop.products["cable"])
    keys = [k async for k in rapp.redis.scan_iter(match=f"ps:{{{shop.tenant_id}}}:*", count=1000)]
    assert len(keys) >= 4
    # Computed by the client, so the single-server run checks the key design too; the cluster
    # run also asks the servers.
    slots = {key_slot(str(k).encode()) for k in keys}
    if rapp.settings.redis_cluster:
        assert {await rapp.redis.execute_command("CLUSTER KEYSLOT", k) for k in keys} == slots
    assert len(slots) == 1


async def test_api_responses_are_cached_per_tenant_until_retired(rapp: bootstrap.Container) -> None:
    cache, tenant, other = rapp.api_cache, uuid4(), uuid4()
    calls: list[str] = []

    def loader(value: str) -> Any:
        async def load() -> dict[str, str]:
            calls.append(value)
            return {"value": value}

        return load

    assert await cache.get_or_load(tenant, "GET /profile", loader("one")) == {"value": "one"}
    assert await cache.get_or_load(tenant, "GET /profile", loader("two")) == {"value": "one"}
    assert await cache.get_or_load(other, "GET /profile", loader("three")) == {"value": "three"}
    await cache.invalidate_all(tenant)
    assert await cache.get_or_load(tenant, "GET /profile", loader("four")) == {"value": "four"}
    assert await cache.get_or_load(other, "GET /profile", loader("five")) == {"value": "three"}
    assert calls == ["one", "three", "four"]
    ttl = await rapp.redis.pttl(
        next(iter([k async for k in rapp.redis.scan_iter(match=f"ps:{{{tenant}}}:cache:api:*")]))
    )
    assert 0 < ttl <= rapp.settings.api_cache_seconds * 1000
