"""RFC 9457 problem details: every error the API returns, in one shape.

Domain errors map to statuses here and nowhere else; handlers never leak a traceback.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from polyshop.adapters.postgres import translate_error as translate
from polyshop.domain import errors
from polyshop.services.ratelimit import RateLimitedError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://polyshop.dev/problems/"


class FieldError(BaseModel):
    field: str = Field(description="The offending input, as a dotted path (`lines.0.quantity`).")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document, with polyshop's `code` and, for bad input, `errors`."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = None
    code: str = Field(description="A stable machine-readable error code.")
    errors: list[FieldError] | None = None


class ApiError(Exception):
    """An HTTP-level refusal with headers of its own (the 401's `WWW-Authenticate`); refusals
    that are domain errors (forbidden, not found) are raised as such."""

    def __init__(
        self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}


def unauthorized(detail: str = "sign in first") -> ApiError:
    return ApiError(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    428: "Precondition required",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}

# Most specific first: the first class an error is an instance of decides its status.
_STATUS_BY_ERROR: tuple[tuple[type[errors.PolyshopError], int], ...] = (
    (errors.ValidationError, 422),
    (errors.NotFoundError, 404),
    (errors.ForbiddenError, 403),
    (errors.ConflictError, 409),
    (errors.PaymentDeclinedError, 402),
    (errors.PaymentFailedError, 502),
    (errors.WebhookSignatureError, 400),
    (errors.AccountLockedError, 429),
    (errors.AuthenticationError, 401),
    (RateLimitedError, 429),
    (errors.TenantRequiredError, 400),
    (errors.StoreUnavailableError, 503),
    (errors.ConfigurationError, 500),
)


def status_for(error: errors.PolyshopError) -> int:
    for kind, status in _STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 400


def problem_response(
    request: Request, status: int, code: str, detail: str | None, *,
    field_errors: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:  # fmt: skip
    body: dict[str, Any] = {
        "type": _TYPE_BASE + code.replace("_", "-"),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
    }
    if field_errors is not None:
        body["errors"] = field_errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _field_path(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.PolyshopError)
    status = status_for(exc)
    headers: dict[str, str] = {}
    field_errors = None
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.ValidationError):
        field_errors = [{"field": exc.field or "body", "message": str(exc)}]
    if isinstance(exc, RateLimitedError | errors.AccountLockedError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_seconds)))
    if isinstance(exc, errors.StoreUnavailableError):
        headers["Retry-After"] = "5"
    if isinstance(exc, errors.InsufficientStockError):
        extra["shortages"] = [
            {"sku": sku, "requested": requested, "available": available}
            for sku, requested, available in exc.shortages
        ]
    if status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, errors.ShopMisconfiguredError):
        log.warning("%s %s: the shop's settings fail: %s", request.method, request.url.path,
                    exc.reason)  # fmt: skip
    return problem_response(
        request, status, exc.code, str(exc), field_errors=field_errors, headers=headers,
        extra=extra,
    )  # fmt: skip


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return problem_response(request, exc.status, exc.code, exc.detail, headers=exc.headers)


async def _on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    field_errors = [
        {"field": _field_path(tuple(error.get("loc", ()))), "message": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in field_errors[:5])
    return problem_response(request, 422, "validation", summary, field_errors=field_errors)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "content_too_large"}.get(
        exc.status_code, "http_error"
    )
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    return problem_response(request, exc.status_code, code, detail, headers=dict(exc.headers or {}))


async def _on_unstorable(request: Request, exc: Exception) -> JSONResponse:
    # A value refused by psycopg before it reaches the server (a NUL character) or by the server
    # outside any translated block: bad input, told in our words. The server's text would
    # quote the value and name types and columns.
    assert isinstance(exc, psycopg.DataError)
    translated = translate(exc)
    assert isinstance(translated, errors.ValidationError)
    log.info("%s %s: refused value: %s", request.method, request.url.path, exc)
    return await _on_domain_error(request, translated)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    return problem_response(request, 500, "internal", "something went wrong on our side")


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.PolyshopError, _on_domain_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(psycopg.DataError, _on_unstorable)
    app.add_exception_handler(Exception, _on_unexpected)
