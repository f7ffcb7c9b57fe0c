"""The FastAPI application: routers, problem handlers, metrics, and the container's lifetime."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.openapi.utils import get_openapi
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polyshop import __version__
from polyshop.api import (
    _accounts,
    _analytics,
    _catalog,
    _content,
    _docs,
    _ops,
    _orders,
    _platform,
    _problems,
    _recommendations,
    _reviews,
)
from polyshop.api._context import (
    BEARER_SCHEME,
    COOKIE_SCHEME,
    PLATFORM_SCHEME,
    SESSION_COOKIE,
    TENANT_HEADER,
    TenantDirectory,
)
from polyshop.api._headers import SecurityHeaders
from polyshop.bootstrap import Container, application
from polyshop.ports import PaymentGateway
from polyshop.settings import Settings, load_settings

HTTP_REQUESTS = Counter(
    "polyshop_http_requests",
    "HTTP requests by method, route and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "polyshop_http_request_seconds", "HTTP request duration by method and route.", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)  # fmt: skip


class _Metrics:
    """Counts and times every request by its route template (never the raw path, whose ids
    would make unbounded label values). Plain ASGI: no per-request task or body buffering."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_SECONDS.labels(scope["method"], route).observe(time.perf_counter() - started)


class _BodyLimit:
    """Bodies over the limit get a 413 problem: at once when the declared length is too large,
    otherwise as soon as the bytes received pass the limit. Either way the rest of the body is
    read and discarded first (up to `drain_bytes`; RFC 9112 section 9.6): closing with unread
    bytes makes the kernel reset the connection, and a client that writes its whole body
    before reading would see the reset instead of the 413."""

    def __init__(self, app: ASGIApp, max_bytes: int, drain_bytes: int | None = None) -> None:
        self._app = app
        self._max = max_bytes
        self._drain = drain_bytes if drain_bytes is not None else max(8 * max_bytes, 8 << 20)

    async def _discard_rest(self, receive: Receive, already: int) -> None:
        read = already
        while read <= self._drain:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            read += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        detail = f"the body is larger than {self._max} bytes"
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self._max:
            await self._discard_rest(receive, 0)
            refusal = _problems.problem_response(
                Request(scope), 413, "content_too_large", detail, headers={"Connection": "close"}
            )
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self._max:
                if message.get("more_body", False):
                    await self._discard_rest(receive, received)
                # FastAPI turns other errors while reading a body into a 400; it lets its own
                # HTTPException through to the problem handler.
                raise HTTPException(413, detail, headers={"Connection": "close"})
            return message

        await self._app(scope, counted, send)


# Operations that create something, and the path parameter its `id` fills: OpenAPI links from
# each to every operation taking that parameter, so clients (and schemathesis's stateful
# phase) can follow "create, then read, change, delete" without guessing ids.
_CREATES: dict[tuple[str, str], str] = {
    ("post", "/categories"): "category_id",
    ("post", "/products"): "product_id",
    ("post", "/products/{product_id}/variants"): "variant_id",
    ("post", "/products/{product_id}/images"): "image_id",
    ("post", "/products/{product_id}/reviews"): "review_id",
    ("post", "/orders"): "order_id",
    ("post", "/cart/checkout"): "order_id",
    ("post", "/me/addresses"): "address_id",
    ("post", "/staff"): "user_id",
    ("post", "/content/pages"): "page_id",
}


def _add_links(paths: dict[str, Any]) -> None:
    for (method, path), parameter in _CREATES.items():
        producer = paths.get(path, {}).get(method)
        if producer is None:
            continue
        created = next(code for code in producer["responses"] if code.startswith("2"))
        links = {
            consumer["operationId"]: {
                "operationId": consumer["operationId"],
                "parameters": {parameter: "$response.body#/id"},
            }
            for consumer_path, operations in paths.items()
            if "{" + parameter + "}" in consumer_path
            for consumer in operations.values()
        }
        producer["responses"][created]["links"] = links


def _problem_openapi(app: FastAPI) -> dict[str, Any]:
    """OpenAPI as the app really answers: errors are problem+json (FastAPI's default 422
    schema is replaced by the 4XX problem every operation declares)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    problem = {"$ref": "#/components/schemas/Problem"}
    components = schema.setdefault("components", {})
    components["securitySchemes"] = {
        BEARER_SCHEME: {"type": "http", "scheme": "bearer", "description": "From POST /auth/login"},
        COOKIE_SCHEME: {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
        PLATFORM_SCHEME: {"type": "http", "scheme": "bearer", "description": "The platform token"},
    }  # fmt: skip
    tenant_header = {
        "name": TENANT_HEADER, "in": "header", "required": False,
        "description": "The shop's slug; may be left out when the Host header is a shop's domain.",
        "schema": {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"},
    }  # fmt: skip
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            if path.startswith("/platform"):
                operation["security"] = [{PLATFORM_SCHEME: []}]
            elif not path.startswith(("/health", "/metrics")):
                # Anonymous where the route allows it; 401/403 where it does not.
                operation["security"] = [{}, {BEARER_SCHEME: []}, {COOKIE_SCHEME: []}]
                operation.setdefault("parameters", []).insert(0, tenant_header)
    for operation in (op for path in schema["paths"].values() for op in path.values()):
        responses = operation.get("responses", {})
        responses.pop("422", None)
        for code in ("4XX", "5XX"):
            if code in responses:
                responses[code]["content"] = {_problems.PROBLEM_JSON: {"schema": problem}}
    _add_links(schema["paths"])
    schemas = components.get("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema


def create_app(
    settings: Settings | None = None, *, container: Container | None = None,
    gateway: PaymentGateway | None = None,
) -> FastAPI:  # fmt: skip
    """The API. Given a `container`, it serves from it (tests); otherwise it opens one for its
    lifetime (with the outbox relay running when `api_run_relay`, and the payment reconciler
    when `api_run_reconciler`)."""

    resolved = settings or (container.settings if container is not None else load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if container is not None:
            _attach(app, container)
            yield
            return
        async with application(
            resolved, gateway=gateway, run_relay=resolved.api_run_relay,
            run_reconciler=resolved.api_run_reconciler,
        ) as opened:  # fmt: skip
            _attach(app, opened)
            # Everything startup built (modules, routes, pools, settings) lives as long as the
            # process; frozen, full cyclic collections no longer walk it, and those walks were
            # the for_you tail latency (docs/recommendations.md). One collection first, so no
            # garbage of the startup is frozen with it.
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                # A process that goes on after the server (a test) collects them again.
                gc.unfreeze()

    app = FastAPI(
        title="polyshop",
        version=__version__,
        description="Multi-tenant commerce: catalog, accounts, carts, checkout, orders, "
        "payments, reviews and content. Errors are RFC 9457 problem details.",
        lifespan=lifespan,
        # Served by `_docs` from a package's bundled assets instead of a CDN.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    _problems.install(app)
    _docs.install(app)
    app.include_router(_catalog.storefront)
    for module in (
        _ops, _platform, _accounts, _catalog, _orders, _reviews, _content, _analytics,
        _recommendations,
    ):  # fmt: skip
        app.include_router(module.router)
    app.openapi = lambda: _problem_openapi(app)  # type: ignore[method-assign]
    if container is not None:
        _attach(app, container)
    app.add_middleware(_BodyLimit, max_bytes=resolved.api_max_body_bytes)
    app.add_middleware(SecurityHeaders, hsts_seconds=resolved.api_hsts_seconds)
    app.add_middleware(_Metrics)
    return app


def _attach(app: FastAPI, container: Container) -> None:
    app.state.container = container
    app.state.tenant_directory = TenantDirectory(
        container, ttl_seconds=container.settings.api_tenant_cache_seconds
    )


def app_from_environment() -> FastAPI:
    """The factory `polyshop serve` hands to uvicorn (each worker builds its own app)."""
    return create_app(load_settings())
