"""`polyshop recommend` as a person runs it: answers with reasons, refusals as one line."""

from __future__ import annotations

import uuid

from polyshop import bootstrap
from polyshop.sync.maintenance import start_at_head
from tests.conftest import TEST_DATA_DIR
from tests.support.cli import run
from tests.support.shops import make_shop

ENV = {"POLYSHOP_DATA_DIR": str(TEST_DATA_DIR), "POLYSHOP_DATABASE": "polyshop_test"}


async def test_recommend_prints_ranked_products_with_their_reasons(
    app: bootstrap.Container,
) -> None:
    relay = app.relays["graph"]
    await start_at_head(relay)
    shop = await make_shop(app, stock=100)
    lines = [shop.line("headphones"), shop.line("cable")]
    await app.checkout.place_order(shop.tenant_id, shop.request(*lines))
    await relay.run_until_idle()
    async with app.database.unit_of_work() as uow:
        cursor = await uow.connection.execute(
            "SELECT slug FROM tenants WHERE id = %s", (shop.tenant_id,)
        )
        row = await cursor.fetchone()
    assert row is not None
    slug = row[0]
    result = run("recommend", "product", str(slug), str(shop.products["headphones"]), env=ENV)
    assert result.returncode == 0, result.stderr
    assert "Cable" in result.stdout and "bought together 1 time" in result.stdout
    trending = run("recommend", "trending", str(slug), str(shop.root_category), env=ENV)
    assert trending.returncode == 0 and "trending in" in trending.stdout


async def test_bad_kind_and_unreachable_neo4j_are_one_line(app: bootstrap.Container) -> None:
    product = str(uuid.uuid4())
    bad = run("recommend", "product", "any-shop", product, "--kind", "for_you", env=ENV)
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith("error: unknown recommendation kind 'for_you'")
    slug = f"neo-{uuid.uuid4().hex[:8]}"
    await app.tenants.create(slug, "Graphless")
    down = run("recommend", "customer", slug, product,
               env={**ENV, "POLYSHOP_NEO4J_URL": "bolt://127.0.0.1:1"})  # fmt: skip
    assert down.returncode == 1
    assert len(down.stderr.strip().splitlines()) == 1, down.stderr
    assert down.stderr.startswith("error: neo4j:"), down.stderr
