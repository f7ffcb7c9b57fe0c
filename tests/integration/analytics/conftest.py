from __future__ import annotations

import pytest

from polyshop import bootstrap
from polyshop.sync.maintenance import start_at_head


@pytest.fixture(scope="session", autouse=True)
async def analytics_from_the_head(app: bootstrap.Container) -> None:
    """Start at the head of the outbox, not behind the events the rest of the suite wrote."""
    await start_at_head(app.relays["analytics"])
