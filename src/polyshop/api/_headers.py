"""Response headers every answer carries: security headers, and caching rules for answers
that depend on the caller. Plain ASGI (no per-request task), headers prepared once."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from polyshop.api._context import SESSION_COOKIE

# The API answers JSON only: nothing may load, frame or submit from it.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The interactive docs: their own scripts and styles (no inline code, no CDN), the schema and
# "try it out" requests to this origin, and Swagger UI's inline SVG icons.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PREFIX = "/docs"
# Who asks decides what comes back: the credentials, and the shop named by header.
VARY = "Authorization, Cookie, X-Tenant"

_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


class SecurityHeaders:
    """Adds the security headers, `Vary`, and `Cache-Control` for answers to a caller with
    credentials (or answers setting a cookie): `no-store`, or `private` where the route asked
    for revalidation (the product page's ETag), so no shared cache keeps one person's answer
    for another. HSTS only over HTTPS, when `hsts_seconds` is set."""

    def __init__(self, app: ASGIApp, *, hsts_seconds: int = 0) -> None:
        self._app = app
        self._hsts = (
            (b"strict-transport-security", f"max-age={hsts_seconds}; includeSubDomains".encode())
            if hsts_seconds > 0
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        credentialed = _has_credentials(scope)
        docs = scope["path"] == DOCS_PREFIX or scope["path"].startswith(DOCS_PREFIX + "/")
        policy = (DOCS_POLICY if docs else API_POLICY).encode()
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in (b"cache-control", b"vary")
                ]
                found = {name.lower(): value for name, value in message.get("headers", [])}
                headers.extend(_COMMON)
                headers.append((b"content-security-policy", policy))
                if https and self._hsts is not None:
                    headers.append(self._hsts)
                vary = found.get(b"vary")
                headers.append((b"vary", (vary + b", " if vary else b"") + VARY.encode()))
                cache = _cache_control(
                    found.get(b"cache-control"), credentialed or b"set-cookie" in found
                )
                if cache is not None:
                    headers.append((b"cache-control", cache))
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, with_headers)


def _has_credentials(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return True
        if name == b"cookie" and SESSION_COOKIE.encode() in value:
            return True
    return False


def _cache_control(current: bytes | None, personal: bool) -> bytes | None:
    if not personal:
        return current
    if current is None:
        return b"no-store"
    lowered = current.lower()
    if b"no-store" in lowered or b"private" in lowered:
        return current
    return b"private, " + current
