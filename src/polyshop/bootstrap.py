"""The composition root: builds stores, adapters and services from settings.

The CLI, the API (later) and the tests all go through here, so there is one place that
decides which adapter serves which port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from polyshop.adapters.mongo import MongoDocumentStore
from polyshop.adapters.payments import TestPaymentGateway
from polyshop.adapters.postgres import (
    Database,
    PostgresDocumentStore,
    current_revision,
    provision,
    upgrade,
)
from polyshop.adapters.redis import RedisClient, connect
from polyshop.domain.errors import StoreUnavailableError
from polyshop.ports import DocumentStore, PaymentGateway, Projector
from polyshop.runtime import EmbeddedRuntime
from polyshop.runtime.health import StoreStatus, mongo_status, postgres_status, redis_status
from polyshop.services.auth import AuthService
from polyshop.services.carts import CartService
from polyshop.services.catalog import CatalogService
from polyshop.services.catalog_reads import CatalogReads, ReadThroughCache
from polyshop.services.checkout import CheckoutService
from polyshop.services.content import ContentService
from polyshop.services.customers import CustomerService
from polyshop.services.documents import DocumentReads
from polyshop.services.inventory import InventoryService
from polyshop.services.orders import OrderService
from polyshop.services.ratelimit import RateLimiter
from polyshop.services.reviews import ReviewService
from polyshop.services.sessions import SessionService
from polyshop.services.tenants import TenantService
from polyshop.settings import Settings
from polyshop.sync import DocumentProjector, Relay, Relays


@dataclass(frozen=True, slots=True)
class StoreUrls:
    postgres: str
    postgres_admin: str | None
    redis: str


def embedded_runtime(settings: Settings) -> EmbeddedRuntime:
    return EmbeddedRuntime(settings.data_dir, settings.database, fsync=settings.embedded_fsync)


def store_urls(settings: Settings) -> StoreUrls:
    """Where the stores are; in `embedded` this starts the servers that are not running."""
    if settings.profile == "embedded":
        urls = embedded_runtime(settings).up()
        provision(urls.postgres_admin, app_password=urls.app_password)
        return StoreUrls(urls.postgres_app, urls.postgres_admin, urls.redis)
    assert settings.postgres_url is not None
    assert settings.redis_url is not None
    return StoreUrls(settings.postgres_url, settings.admin_url, settings.redis_url)


async def check_stores(urls: StoreUrls, mongo_url: str | None = None) -> list[StoreStatus]:
    checks = [postgres_status(urls.postgres), redis_status(urls.redis)]
    if mongo_url:
        checks.append(mongo_status(mongo_url))
    return list(await asyncio.gather(*checks))


async def prepare_documents(settings: Settings, urls: StoreUrls) -> list[str]:
    """Create MongoDB's collections, validators and indexes (what the server supports)."""
    if not settings.mongo_url:
        return []
    store = MongoDocumentStore(
        settings.mongo_url, Database(urls.postgres), database_name=settings.mongo_database
    )
    try:
        return await store.prepare()
    finally:
        await store.close()


def raise_for_unavailable(statuses: list[StoreStatus]) -> None:
    for status in statuses:
        if not status.ok:
            raise StoreUnavailableError(status.store, status.detail)


def migrate(urls: StoreUrls) -> str | None:
    """Bring the schema to the newest revision; returns the revision now applied."""
    if urls.postgres_admin is None:
        raise StoreUnavailableError(
            "postgres", "no admin URL to migrate with (POLYSHOP_POSTGRES_ADMIN_URL)"
        )
    upgrade(urls.postgres_admin)
    return current_revision(urls.postgres_admin)


def projectors(documents: DocumentStore) -> list[Projector[Any]]:
    """Every derived store the outbox relay keeps in step, each with its own checkpoint:
    a new projector is one more entry here (and `polyshop sync` then knows it by name)."""
    return [DocumentProjector(documents)]


@dataclass(slots=True)
class Container:
    settings: Settings
    urls: StoreUrls
    database: Database
    redis: RedisClient
    gateway: PaymentGateway
    tenants: TenantService
    catalog: CatalogService
    customers: CustomerService
    inventory: InventoryService
    checkout: CheckoutService
    orders: OrderService
    reviews: ReviewService
    content: ContentService
    sessions: SessionService
    auth: AuthService
    carts: CartService
    catalog_reads: CatalogReads
    api_cache: ReadThroughCache
    rate_limiter: RateLimiter
    documents: DocumentStore
    document_reads: DocumentReads
    relays: Relays

    @property
    def relay(self) -> Relay:
        """The documents projector's relay (the one most callers mean)."""
        return self.relays["documents"]


@asynccontextmanager
async def application(
    settings: Settings, urls: StoreUrls | None = None, *, gateway: PaymentGateway | None = None,
    run_relay: bool = False,
) -> AsyncIterator[Container]:  # fmt: skip
    """Everything a process needs to serve use cases, opened and closed together.

    A long-running service passes `run_relay=True`: the outbox relay of every projector then
    works in the background of the same process (in both profiles) until the application
    closes.
    """
    if urls is None:
        urls = await asyncio.to_thread(store_urls, settings)
    database = Database(
        urls.postgres, min_size=settings.pool_min_size, max_size=settings.pool_max_size
    )
    await database.open()
    gateway = gateway or TestPaymentGateway()
    s = settings
    redis = connect(urls.redis, cluster=s.redis_cluster, timeout=s.redis_timeout_seconds)
    catalog = CatalogService(database)
    reads = CatalogReads(
        catalog,
        ReadThroughCache(redis, "product", s.product_cache_seconds),
        ReadThroughCache(redis, "search", s.search_cache_seconds, generational=True),
        local_seconds=s.product_page_local_seconds,
    )
    catalog.listener = reads
    customers = CustomerService(database)
    sessions = SessionService(
        redis, idle_seconds=s.session_idle_seconds, max_seconds=s.session_max_seconds
    )
    checkout = CheckoutService(database, gateway, reads)
    carts = CartService(
        redis, database, checkout, ttl_seconds=s.cart_ttl_seconds,
        max_lines=s.cart_max_lines, max_quantity=s.cart_max_quantity,
    )  # fmt: skip
    documents: DocumentStore = (
        MongoDocumentStore(s.mongo_url, database, database_name=s.mongo_database)
        if s.mongo_url
        else PostgresDocumentStore(database)
    )
    container = Container(
        settings=settings,
        urls=urls,
        database=database,
        redis=redis,
        gateway=gateway,
        tenants=TenantService(database),
        catalog=catalog,
        customers=customers,
        inventory=InventoryService(database, reads),
        checkout=checkout,
        orders=OrderService(database, gateway, reads),
        reviews=ReviewService(database),
        content=ContentService(database),
        sessions=sessions,
        carts=carts,
        auth=AuthService(
            customers, sessions, carts, redis, max_failures=s.login_max_failures,
            lock_seconds=s.login_lock_seconds,
        ),
        catalog_reads=reads,
        api_cache=ReadThroughCache(redis, "api", s.api_cache_seconds, generational=True),
        rate_limiter=RateLimiter(
            redis, limit=s.rate_limit_requests, window_seconds=s.rate_limit_window_seconds
        ),
        documents=documents,
        document_reads=DocumentReads(documents),
        relays=Relays([Relay(database, p) for p in projectors(documents)]),
    )  # fmt: skip
    stop = asyncio.Event()
    relay = (
        asyncio.create_task(container.relays.run(urls.postgres, stop), name="outbox-relay")
        if run_relay
        else None
    )
    try:
        yield container
    finally:
        if relay is not None:
            stop.set()
            try:
                await asyncio.wait_for(relay, timeout=10)
            except TimeoutError:
                relay.cancel()
        await documents.close()
        await redis.aclose()
        await database.close()
