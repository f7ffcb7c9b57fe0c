"""A fresh shop for every test: its own tenant, rules, catalog and customer, on real PostgreSQL
(the builders are in tests/support/shops.py)."""

from __future__ import annotations

import pytest

from polyshop import bootstrap
from tests.support.shops import Shop, make_shop


@pytest.fixture
async def shop(app: bootstrap.Container) -> Shop:
    return await make_shop(app)
