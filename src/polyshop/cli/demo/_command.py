"""`polyshop demo`: seed a small platform, start the API server and its projectors, drive
simulated shoppers through the real HTTP API while a live dashboard shows what happens, then a
summary and the URLs to try."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import httpx
import typer
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from polyshop import bootstrap
from polyshop.cli._common import console, settings, status_table
from polyshop.cli._stores import _up
from polyshop.cli.demo import _platform, _shoppers, _view
from polyshop.cli.demo._stats import DemoStats, cache_counts, cache_ratios
from polyshop.domain.errors import ConfigurationError, StoreUnavailableError
from polyshop.runtime.health import StoreStatus, neo4j_status
from polyshop.services.seeding import SEED_PASSWORD
from polyshop.settings import Settings

# How long the projectors get after the workload to apply what it wrote.
_SETTLE_SECONDS = 60.0
_PROBE_SECONDS = 1.0


class Profile(StrEnum):
    embedded = "embedded"
    full = "full"


def _full_profile_settings(config: Settings) -> None:
    """Profile `full` runs on the five servers: name every setting that is missing."""
    missing = [name for name, value in (
        ("POLYSHOP_MONGO_URL", config.mongo_url), ("POLYSHOP_CASSANDRA_HOSTS", config.cassandra_hosts),
        ("POLYSHOP_NEO4J_URL", config.neo4j_url), ("POLYSHOP_POSTGRES_RELAY_URL", config.postgres_relay_url),
    ) if not value]  # fmt: skip
    if missing:
        raise ConfigurationError(
            f"the demo on profile 'full' runs on all five servers: set {', '.join(missing)}"
        )


def _neo4j(config: Settings) -> StoreStatus:
    """Neo4j answers (`polyshop up` has checked the other four), or one line."""
    assert config.neo4j_url is not None
    password = config.neo4j_password.get_secret_value() if config.neo4j_password else ""
    status = asyncio.run(neo4j_status(config.neo4j_url, config.neo4j_user, password))
    if not status.ok:
        raise StoreUnavailableError("neo4j", status.detail)
    return status


def demo(
    duration: Annotated[
        float, typer.Option(min=1, max=86_400, help="Seconds of simulated shopping")
    ] = 30,
    shoppers: Annotated[int, typer.Option(min=1, max=64, help="Concurrent simulated shoppers")] = 4,
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep the API up after the summary, until Ctrl-C")
    ] = False,
    profile: Annotated[
        Profile | None,
        typer.Option(
            help="embedded: servers from pip wheels; full: the five servers your settings name"
            " (default: POLYSHOP_PROFILE)",
        ),
    ] = None,
) -> None:
    """The main job: a small platform (three seeded shops) running live. Starts the stores and
    the API server with its projectors, drives simulated shoppers through the HTTP API while a
    dashboard shows requests, latency, errors, caches, projector lag, orders and stock; ends
    with a summary and URLs to try."""
    if profile is not None:
        os.environ["POLYSHOP_PROFILE"] = profile.value
    config = settings()
    if config.profile == "full":
        _full_profile_settings(config)
    urls, statuses, revision = _up()
    if config.profile == "full":
        statuses.append(_neo4j(config))
    console.print(status_table(statuses, revision))
    asyncio.run(_run(config, urls, duration=duration, shoppers=shoppers, serve=serve))


async def _prepare(container: bootstrap.Container) -> list[UUID]:
    """The demo's shops: seeded now, or found from an earlier run. Their derived stores are
    built again from PostgreSQL either way (a few seconds): an earlier run's documents, analytics
    and graph may be gone (a fresh MongoDB, Cassandra or Neo4j on profile `full`)."""
    slugs = _platform.shop_slugs()
    shops = await _platform.existing_shops(container, slugs)
    began = time.perf_counter()
    with Progress(TextColumn("[bold]{task.description:<26}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=not console.is_terminal) as progress:  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        if shops:
            what = f"reusing the demo platform from an earlier run ({', '.join(slugs)})"
        else:
            seeded = await _platform.seed(
                container.urls, lambda s, d, t: advance(f"seeding {s}", d, t)
            )
            shops = [tenant_id for tenant_id, _ in seeded]
            plan = _platform.PLAN
            what = (f"seeded {plan.shops} shops ({plan.products} products, {plan.users} customers,"
                    f" {plan.orders} orders over {plan.months} months, {plan.events} storefront"
                    " events)")  # fmt: skip
        await _platform.rebuild_derived(
            container, shops, lambda s, d, t: advance(f"projecting {s}", d, t)
        )
    console.print(
        f"{what}; built their documents, analytics and graph; {time.perf_counter() - began:.1f} s",
        soft_wrap=True,
    )
    return shops


async def _discover(
    http: httpx.AsyncClient, platform_token: str, slugs: list[str]
) -> list[_shoppers.Shop]:
    """What the shoppers need, asked of the API itself: the shops (as the platform operator),
    each shop's categories, products and customers (as its admin)."""
    listed = await http.get("/platform/tenants",
                            headers={"Authorization": f"Bearer {platform_token}"})  # fmt: skip
    listed.raise_for_status()
    known = {tenant["slug"] for tenant in listed.json()}
    shops = []
    for slug in slugs:
        if slug not in known:
            raise StoreUnavailableError("api", f"the API does not list the shop {slug!r}")
        tenant = {"X-Tenant": slug}
        admin_login = {"email": f"admin@{slug}.example", "password": SEED_PASSWORD}
        login = await http.post("/auth/login", headers=tenant, json=admin_login)
        login.raise_for_status()
        admin = {**tenant, "Authorization": f"Bearer {login.json()['token']}"}
        categories = (await http.get("/categories", headers=tenant)).json()
        products: list[str] = []
        url: str | None = "/products?limit=100&sort=name"
        while url and len(products) < 200:
            page = (await http.get(url, headers=tenant)).json()
            products += [item["id"] for item in page["items"]]
            url = page["next"]
        customers = (await http.get("/customers", headers=admin,
                                    params={"role": "customer", "limit": 40})).json()  # fmt: skip
        shops.append(_shoppers.Shop(
            slug, login.json()["token"], [c["id"] for c in categories], products,
            [c["email"] for c in customers["items"]],
        ))  # fmt: skip
    return shops


async def _probe(container: bootstrap.Container, http: httpx.AsyncClient, stats: DemoStats,
                 shops: list[UUID], since: datetime,
                 before: dict[tuple[str, str], float]) -> None:  # fmt: skip
    """Read the server's cache counters and the stores: what the dashboard shows besides the
    shoppers' own measurements."""
    with contextlib.suppress(httpx.HTTPError):
        metrics = await http.get("/metrics")
        if metrics.status_code == 200:
            stats.caches = cache_ratios(cache_counts(metrics.text), before)
    stats.lag = await _platform.projector_lag(container)
    stats.stock = await _platform.stock(container, shops, since)


async def _run(config: Settings, urls: bootstrap.StoreUrls, *, duration: float, shoppers: int,
               serve: bool) -> None:  # fmt: skip
    platform_token = (
        config.platform_admin_token.get_secret_value()
        if config.platform_admin_token else secrets.token_urlsafe(32)
    )  # fmt: skip
    async with bootstrap.application(config, urls) as container:
        bootstrap.relay_url(urls)  # the projectors' own login, or one line now
        shop_ids = await _prepare(container)
        server_env = {"POLYSHOP_PLATFORM_ADMIN_TOKEN": platform_token}
        # Every simulated shopper comes from 127.0.0.1: the per-caller limit on changes would
        # count them all as one anonymous visitor.
        server_env.setdefault("POLYSHOP_RATE_LIMIT_REQUESTS",
                              os.environ.get("POLYSHOP_RATE_LIMIT_REQUESTS", "1000000"))  # fmt: skip
        server = _platform.ApiProcess(server_env, config.data_dir / "demo-serve.log")
        with console.status("starting the API server and its projectors ..."):
            await server.start()
        try:
            await _live(container, server, platform_token, shop_ids, duration=duration,
                        shoppers=shoppers, serve=serve)  # fmt: skip
        finally:
            server.stop()


async def _live(container: bootstrap.Container, server: _platform.ApiProcess, platform_token: str,
                shop_ids: list[UUID], *, duration: float, shoppers: int, serve: bool) -> None:  # fmt: skip
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    limits = httpx.Limits(max_connections=shoppers + 4, max_keepalive_connections=shoppers + 4)
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0, limits=limits) as http:
        slugs = _platform.shop_slugs()
        shops = await _discover(http, platform_token, slugs)
        since = datetime.now(UTC)
        before: dict[tuple[str, str], float] = {}
        with contextlib.suppress(httpx.HTTPError):
            before = cache_counts((await http.get("/metrics")).text)
        stats = DemoStats(started=time.perf_counter())
        client = _shoppers.Client(http, stats)
        rng = random.Random(15)  # noqa: S311 (simulation, not security)
        workload_over = asyncio.Event()
        tasks = [
            asyncio.create_task(_shoppers.Shopper(
                client, shops, SEED_PASSWORD, random.Random(rng.random())  # noqa: S311
            ).run(workload_over))
            for _ in range(shoppers)
        ]  # fmt: skip
        tasks.append(asyncio.create_task(_shoppers.manager(client, shops, rng, workload_over)))
        title = (f"polyshop demo: {len(shops)} shops, {shoppers} shoppers, {duration:g} s,"
                 f" API {server.url}")  # fmt: skip
        deadline = time.perf_counter() + duration
        await _watch(container, http, stats, shop_ids, since, before, title, deadline, stop)
        workload_over.set()
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - stats.started
        # Let the projectors apply what the workload wrote (they run in the server).
        with console.status("waiting for the projectors to catch up ..."):
            settle_until = time.perf_counter() + _SETTLE_SECONDS
            while True:
                await _probe(container, http, stats, shop_ids, since, before)
                if stats.caught_up() or time.perf_counter() > settle_until or stop.is_set():
                    break
                await asyncio.sleep(0.5)
        table, lines = _view.summary(stats, seconds)
        console.print(table)
        for line in lines:
            console.print(line, soft_wrap=True)
        _print_urls(server.url, shops, serve)
    if serve and not stop.is_set():
        console.print("the API keeps running; Ctrl-C stops it", soft_wrap=True)
        while not stop.is_set() and server.running():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
        if not server.running():
            raise StoreUnavailableError("api", f"polyshop serve exited: {server.last_line()}")
        console.print("stopping the API")


async def _watch(container: bootstrap.Container, http: httpx.AsyncClient, stats: DemoStats,
                 shop_ids: list[UUID], since: datetime, before: dict[tuple[str, str], float],
                 title: str, deadline: float, stop: asyncio.Event) -> None:  # fmt: skip
    """Refresh the dashboard (a live view on a terminal, a line every few seconds otherwise)
    until the duration is over or Ctrl-C."""

    async def tick() -> bool:
        await _probe(container, http, stats, shop_ids, since, before)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=_PROBE_SECONDS)
        return not stop.is_set() and time.perf_counter() < deadline

    if console.is_terminal:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while True:
                more = await tick()
                live.update(_view.dashboard(stats, time.perf_counter(), title))
                if not more:
                    break
        return
    console.print(title, soft_wrap=True)
    last = 0.0
    while await tick():
        now = time.perf_counter()
        if now - last >= 5:
            console.print(_view.progress_line(stats, now), soft_wrap=True)
            last = now
    console.print(_view.progress_line(stats, time.perf_counter()), soft_wrap=True)


def _print_urls(url: str, shops: list[_shoppers.Shop], serve: bool) -> None:
    shop = shops[0]
    product = shop.products[0]
    tenant = f"-H 'X-Tenant: {shop.slug}'"
    console.print()
    console.print(_view.heading("Try it"))
    state = ("it keeps running (Ctrl-C stops it)" if serve
             else "it stopped with the demo; `polyshop demo --serve` keeps it up")  # fmt: skip
    console.print(
        f"the API was at {url}; {state}. A shop is chosen by the X-Tenant header (its slug),"
        f" or by the Host header when the shop has a domain. Every seeded account signs in with"
        f" {SEED_PASSWORD!r} (admin@<slug>.example for a shop's admin).",
        soft_wrap=True,
    )
    today = datetime.now(UTC).date().isoformat()
    for label, command in (
        ("OpenAPI docs", f"{url}/docs"),
        ("product page", f"curl {tenant} {url}/products/{product}"),
        ("shop analytics", f"curl {tenant} -H 'Authorization: Bearer {shop.admin_token}'"
                           f" '{url}/analytics/top-products?by=views&day={today}'"),
        ("recommendation", f"curl {tenant} '{url}/products/{product}/recommendations"
                           f"?kind=bought_together'"),
    ):  # fmt: skip
        console.print(f"  {label:<16}{command}", soft_wrap=True, highlight=False, markup=False)
