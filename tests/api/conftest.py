"""HTTP tests: httpx against the FastAPI app in-process, on the real test stores (the actors
are in tests/support/actors.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from polyshop import bootstrap
from polyshop.api import create_app


@pytest.fixture(scope="session")
def api(app: bootstrap.Container) -> FastAPI:
    return create_app(container=app)


@pytest.fixture(scope="session")
async def http(api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=api, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
        yield client
