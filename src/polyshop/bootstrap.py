"""The composition root: builds stores, adapters and services from settings.

The CLI, the API (later) and the tests all go through here, so there is one place that
decides which adapter serves which port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from polyshop.adapters.cassandra import CassandraAnalyticsStore, upgrade_schema
from polyshop.adapters.mail import LoggingMailer
from polyshop.adapters.mongo import MongoDocumentStore
from polyshop.adapters.neo4j import Neo4jGraphStore
from polyshop.adapters.payments import StripeGateway, TestPaymentGateway
from polyshop.adapters.postgres import (
    Database,
    PostgresAnalyticsStore,
    PostgresDocumentStore,
    PostgresGraphStore,
    admin_url_for,
    current_revision,
    provision,
    upgrade,
)
from polyshop.adapters.redis import RedisClient, connect
from polyshop.domain.errors import ConfigurationError, StoreUnavailableError
from polyshop.ports import (
    AnalyticsStore,
    DocumentStore,
    GraphStore,
    Mailer,
    PaymentGateway,
    Projector,
)
from polyshop.runtime import EmbeddedRuntime
from polyshop.runtime.health import (
    StoreStatus,
    cassandra_status,
    mongo_status,
    postgres_status,
    redis_status,
)
from polyshop.services.analytics import AnalyticsService
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
from polyshop.services.payments import Gateways, Reconciler
from polyshop.services.ratelimit import RateLimiter
from polyshop.services.recommendations import RecommendationService
from polyshop.services.reviews import ReviewService
from polyshop.services.sessions import SessionService
from polyshop.services.tenants import TenantService
from polyshop.settings import Settings
from polyshop.sync import AnalyticsProjector, DocumentProjector, GraphProjector, Relay, Relays


@dataclass(frozen=True, slots=True)
class StoreUrls:
    postgres: str
    postgres_admin: str | None
    redis: str
    # The relay's and the platform operator's own logins (None: not configured).
    postgres_relay: str | None = None
    postgres_platform: str | None = None


def embedded_runtime(settings: Settings) -> EmbeddedRuntime:
    return EmbeddedRuntime(settings.data_dir, settings.database, fsync=settings.embedded_fsync)


def store_urls(settings: Settings) -> StoreUrls:
    """Where the stores are; in `embedded` this starts the servers that are not running."""
    if settings.profile == "embedded":
        urls = embedded_runtime(settings).up()
        provision(
            urls.postgres_admin, urls.postgres_app, relay_url=urls.postgres_relay,
            platform_url=urls.postgres_platform,
        )  # fmt: skip
        return StoreUrls(
            urls.postgres_app, urls.postgres_admin, urls.redis, urls.postgres_relay,
            urls.postgres_platform,
        )  # fmt: skip
    assert settings.postgres_url is not None
    assert settings.redis_url is not None
    app = settings.postgres_url
    # The admin URL may name the maintenance database; everything is done in the app's.
    admin = admin_url_for(settings.admin_url, app) if settings.admin_url else None
    platform = settings.postgres_platform_url or (admin if settings.postgres_admin_url else None)
    return StoreUrls(app, admin, settings.redis_url, settings.postgres_relay_url, platform)


def relay_url(urls: StoreUrls) -> str:
    """The relay's login; the relay refuses to start without its own role."""
    if urls.postgres_relay is None:
        raise ConfigurationError(
            "POLYSHOP_POSTGRES_RELAY_URL: the outbox relay needs its own login (polyshop_relay)"
        )
    return urls.postgres_relay


async def check_stores(
    urls: StoreUrls, mongo_url: str | None = None, cassandra_hosts: str | None = None
) -> list[StoreStatus]:
    checks = [postgres_status(urls.postgres), redis_status(urls.redis)]
    if mongo_url:
        checks.append(mongo_status(mongo_url))
    if cassandra_hosts:
        checks.append(cassandra_status(cassandra_hosts))
    return list(await asyncio.gather(*checks))


def prepare_analytics(settings: Settings) -> list[str]:
    """Create Cassandra's keyspace (replication from settings) and apply its CQL migrations;
    returns the migrations applied now. Nothing to do when analytics live in PostgreSQL."""
    if not settings.cassandra_hosts:
        return []
    return upgrade_schema(
        settings.cassandra_hosts, settings.cassandra_keyspace, settings.cassandra_replication,
        local_dc=settings.cassandra_local_dc, consistency=settings.cassandra_consistency,
    )  # fmt: skip


def analytics_store(settings: Settings, database: Database) -> AnalyticsStore:
    """Cassandra when hosts are set (profile `full`), else the PostgreSQL twin."""
    retention = timedelta(days=settings.analytics_retention_days)
    if settings.cassandra_hosts:
        return CassandraAnalyticsStore(
            settings.cassandra_hosts, settings.cassandra_keyspace,
            local_dc=settings.cassandra_local_dc, consistency=settings.cassandra_consistency,
            retention=retention, concurrency=settings.cassandra_concurrency,
            request_timeout=settings.cassandra_timeout_seconds,
        )  # fmt: skip
    return PostgresAnalyticsStore(database, retention=retention)


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


def payment_gateways(settings: Settings, gateway: PaymentGateway | None = None) -> Gateways:
    """The gateways this process can charge: the test gateway (its record in a file every
    process shares), Stripe when its key is set; `gateway` (tests) replaces the one of its name."""
    available: dict[str, PaymentGateway] = {}
    if gateway is not None:
        available[gateway.name] = gateway
    if "test" not in available:
        path = settings.test_gateway_path or settings.data_dir / "test-gateway.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        available["test"] = TestPaymentGateway(
            path, slow_seconds=settings.test_gateway_slow_seconds
        )
    if settings.stripe_api_key is not None and "stripe" not in available:
        available["stripe"] = StripeGateway(
            settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base,
            webhook_secret=(
                settings.stripe_webhook_secret.get_secret_value()
                if settings.stripe_webhook_secret else None
            ),
            timeout_seconds=settings.payment_gateway_timeout_seconds,
        )  # fmt: skip
    default = settings.payment_default_gateway if gateway is None else gateway.name
    return Gateways(available.values(), default=default)


def graph_store(settings: Settings, database: Database) -> GraphStore:
    """Neo4j when POLYSHOP_NEO4J_URL is set, else the PostgreSQL twin (tables of migration 0009)."""
    if settings.neo4j_url:
        password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else ""
        return Neo4jGraphStore(settings.neo4j_url, settings.neo4j_user, password)
    return PostgresGraphStore(database)


def projectors(
    database: Database, documents: DocumentStore, analytics: AnalyticsStore, graph: GraphProjector
) -> list[Projector[Any]]:
    """Every derived store the outbox relay keeps in step, each with its own checkpoint:
    a new projector is one more entry here (and `polyshop sync` then knows it by name)."""
    return [DocumentProjector(database, documents), AnalyticsProjector(database, analytics), graph]


@dataclass(slots=True)
class Container:
    settings: Settings
    urls: StoreUrls
    database: Database
    # The relay's pool (its own role) and the platform operator's (None: not configured).
    relay_database: Database
    platform_database: Database | None
    redis: RedisClient
    gateway: PaymentGateway
    mailer: Mailer
    gateways: Gateways
    reconciler: Reconciler
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
    analytics: AnalyticsService
    relays: Relays
    graph: GraphStore
    recommendations: RecommendationService

    @property
    def relay(self) -> Relay:
        """The documents projector's relay (the one most callers mean)."""
        return self.relays["documents"]


@asynccontextmanager
async def application(
    settings: Settings, urls: StoreUrls | None = None, *, gateway: PaymentGateway | None = None,
    run_relay: bool = False, run_reconciler: bool = False,
) -> AsyncIterator[Container]:  # fmt: skip
    """Everything a process needs to serve use cases, opened and closed together.

    A long-running service passes `run_relay=True`: the outbox relay of every projector then
    works in the background of the same process (in both profiles) until the application
    closes; with `run_reconciler=True` so does the payment reconciler (one pass at a time
    across processes).
    """
    if urls is None:
        urls = await asyncio.to_thread(store_urls, settings)
    listen_url = relay_url(urls) if run_relay else None
    database = Database(
        urls.postgres, min_size=settings.pool_min_size, max_size=settings.pool_max_size
    )
    # Small pools that connect on first use: most processes never act as relay or platform.
    # Without a relay URL the relay's pool logs in as the application, and the database refuses
    # it everything the relay does; the commands that run the relay check `relay_url` first.
    relay_database = Database(urls.postgres_relay or urls.postgres, min_size=0, max_size=4)
    platform_database = (
        Database(urls.postgres_platform, min_size=0, max_size=2) if urls.postgres_platform else None
    )
    await database.open()
    await relay_database.open()
    if platform_database is not None:
        await platform_database.open()
    s = settings
    gateways = payment_gateways(s, gateway)
    redis = connect(urls.redis, cluster=s.redis_cluster, timeout=s.redis_timeout_seconds)
    catalog = CatalogService(database)
    reads = CatalogReads(
        catalog,
        ReadThroughCache(redis, "product", s.product_cache_seconds),
        ReadThroughCache(redis, "search", s.search_cache_seconds, generational=True),
        local_seconds=s.product_page_local_seconds,
    )
    catalog.listener = reads
    # Registration outcomes go out by email; no mail server is configured yet in either
    # profile, so they are logged (docs/security.md).
    mailer: Mailer = LoggingMailer()
    customers = CustomerService(database, mailer=mailer)
    sessions = SessionService(
        redis, idle_seconds=s.session_idle_seconds, max_seconds=s.session_max_seconds
    )
    checkout = CheckoutService(
        database, gateways, reads, reservation_seconds=s.payment_reservation_seconds,
        gateway_timeout_seconds=s.payment_gateway_timeout_seconds,
    )  # fmt: skip
    orders = OrderService(
        database, gateways, reads, reservation_seconds=s.payment_reservation_seconds,
        gateway_timeout_seconds=s.payment_gateway_timeout_seconds,
    )  # fmt: skip
    carts = CartService(
        redis, database, checkout, ttl_seconds=s.cart_ttl_seconds,
        max_lines=s.cart_max_lines, max_quantity=s.cart_max_quantity,
    )  # fmt: skip
    # Two handles on the document store: the relay's writes it (and its checkpoint), the
    # application's only reads it.
    documents: DocumentStore = (
        MongoDocumentStore(s.mongo_url, relay_database, database_name=s.mongo_database)
        if s.mongo_url
        else PostgresDocumentStore(relay_database)
    )
    readable: DocumentStore = (
        MongoDocumentStore(s.mongo_url, database, database_name=s.mongo_database)
        if s.mongo_url
        else PostgresDocumentStore(database)
    )
    # Likewise for analytics: the relay records, the application queries (Cassandra needs no
    # PostgreSQL login, so one store serves both there).
    analytics = analytics_store(s, relay_database)
    analytics_reads = (
        analytics
        if isinstance(analytics, CassandraAnalyticsStore)
        else analytics_store(s, database)
    )
    # And for the graph: the projector writes as the relay, recommendations read as the app.
    graph = graph_store(s, relay_database)
    graph_reads = graph if isinstance(graph, Neo4jGraphStore) else graph_store(s, database)
    # Product recommendations are cached like product pages; the graph projector retires a
    # tenant's entries (one generation bump) whenever it changes that tenant's graph.
    recommendation_cache = ReadThroughCache(
        redis, "recommend", s.product_cache_seconds, generational=True
    )
    graph_projector = GraphProjector(
        relay_database, graph, on_change=recommendation_cache.invalidate_all
    )
    container = Container(
        settings=settings,
        urls=urls,
        database=database,
        relay_database=relay_database,
        platform_database=platform_database,
        redis=redis,
        gateway=gateways.get(gateways.default),
        mailer=mailer,
        gateways=gateways,
        reconciler=Reconciler(database, gateways, orders),
        tenants=TenantService(database, platform_database),
        catalog=catalog,
        customers=customers,
        inventory=InventoryService(database, reads),
        checkout=checkout,
        orders=orders,
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
        document_reads=DocumentReads(readable),
        analytics=AnalyticsService(database, analytics_reads, max_batch=s.analytics_max_batch),
        relays=Relays([
            Relay(relay_database, p)
            for p in projectors(relay_database, documents, analytics, graph_projector)
        ]),
        graph=graph,
        recommendations=RecommendationService(graph_reads, recommendation_cache),
    )  # fmt: skip
    stop = asyncio.Event()
    relay = (
        asyncio.create_task(container.relays.run(listen_url, stop), name="outbox-relay")
        if listen_url is not None
        else None
    )
    background = [relay] if relay is not None else []
    if run_reconciler:
        background.append(
            asyncio.create_task(
                container.reconciler.run(
                    urls.postgres, stop, interval_seconds=s.payment_reconcile_interval_seconds
                ),
                name="payments-reconciler",
            )
        )
    try:
        yield container
    finally:
        stop.set()
        for task in background:
            try:
                await asyncio.wait_for(task, timeout=10)
            except TimeoutError:
                task.cancel()
        await documents.close()
        await readable.close()
        await analytics.close()
        if analytics_reads is not analytics:
            await analytics_reads.close()
        await graph.close()
        if graph_reads is not graph:
            await graph_reads.close()
        await gateways.aclose(keep=gateway)
        await redis.aclose()
        await database.close()
        await relay_database.close()
        if platform_database is not None:
            await platform_database.close()
