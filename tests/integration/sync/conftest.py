from __future__ import annotations

import pytest

from polyshop import bootstrap
from polyshop.sync.maintenance import rebuild


@pytest.fixture(scope="session", autouse=True)
async def relay_from_the_head(app: bootstrap.Container) -> None:
    """Start where a fresh deployment starts after its rebuild: at the head of the outbox, not
    behind the thousands of events the rest of the suite wrote for its own tenants."""
    for relay in app.relays:
        await rebuild(relay, tenants=[])
