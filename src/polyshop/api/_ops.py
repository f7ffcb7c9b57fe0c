"""Health and metrics: liveness (also the benchmarks' hello-world route), readiness with each
store's state, and Prometheus metrics."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from polyshop.api._common import Model
from polyshop.api._context import Services
from polyshop.bootstrap import check_stores

router = APIRouter(tags=["operations"])


class Live(Model):
    status: Literal["ok"]


class StoreState(Model):
    store: str
    ok: bool
    detail: str


class Ready(Model):
    status: Literal["ok", "unavailable"]
    stores: list[StoreState]


@router.get("/health/live", response_model=Live)
async def live() -> Any:
    return {"status": "ok"}


@router.get("/health/ready", response_model=Ready, responses={503: {"model": Ready}})
async def ready(container: Services, response: Response) -> Any:
    statuses = await check_stores(container.urls, container.settings.mongo_url)
    ok = all(s.ok for s in statuses)
    if not ok:
        response.status_code = 503
    return {
        "status": "ok" if ok else "unavailable",
        "stores": [{"store": s.store, "ok": s.ok, "detail": s.detail} for s in statuses],
    }


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
