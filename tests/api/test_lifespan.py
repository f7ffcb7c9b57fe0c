"""The API server's startup, as uvicorn runs it: the lifespan opens the application itself."""

from __future__ import annotations

import gc

import httpx

from polyshop import bootstrap
from polyshop.api import create_app
from polyshop.settings import Settings


async def test_startup_freezes_the_long_lived_heap_and_shutdown_thaws_it(
    settings: Settings, urls: bootstrap.StoreUrls
) -> None:
    # The application server's own objects stay out of full collections (the for_you tail
    # latency was those walks: docs/recommendations.md); in a test process nothing is frozen.
    assert gc.get_freeze_count() == 0
    served = settings.model_copy(update={"api_run_relay": False, "api_run_reconciler": False})
    app = create_app(served)
    async with app.router.lifespan_context(app):
        frozen = gc.get_freeze_count()
        assert frozen > 0
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://shop.test") as client:
            assert (await client.get("/health/live")).json() == {"status": "ok"}
    assert gc.get_freeze_count() == 0
