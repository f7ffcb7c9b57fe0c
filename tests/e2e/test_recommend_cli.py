"""`polyshop recommend` as a person runs it: answers with reasons, refusals as one line."""

from __future__ import annotations

import uuid
from typing import Any

from neo4j import AsyncGraphDatabase

from polyshop import bootstrap
from polyshop.adapters.neo4j import Neo4jGraphStore
from polyshop.sync import GraphProjector, Relay
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


async def test_sync_verify_graph_names_a_stale_for_sale_list(
    app: bootstrap.Container, neo4j_server: Any
) -> None:
    """`polyshop sync verify graph` on Neo4j: clean after projecting a shop; with one product's
    bought-together list removed behind the projector's back (as on a graph built before the
    lists), exit 1 and a report that names the list and the product, and how to mend it."""
    store = Neo4jGraphStore(neo4j_server.url, neo4j_server.user, neo4j_server.password)
    relay = Relay(app.relay_database, GraphProjector(app.relay_database, store, name="graph-cli"))
    await start_at_head(relay)
    shop = await make_shop(app, stock=100)
    for basket in (["headphones", "cable"], ["headphones", "speaker"]):
        await app.checkout.place_order(shop.tenant_id, shop.request(*map(shop.line, basket)))
    await relay.run_until_idle()
    async with app.database.unit_of_work() as uow:
        cursor = await uow.connection.execute(
            "SELECT slug FROM tenants WHERE id = %s", (shop.tenant_id,)
        )
        (slug,) = await cursor.fetchone() or ("",)
    env = {**ENV, "POLYSHOP_NEO4J_URL": neo4j_server.url,
           "POLYSHOP_NEO4J_PASSWORD": neo4j_server.password}  # fmt: skip
    headphones = str(shop.products["headphones"])
    try:
        clean = run("sync", "verify", "graph", "--tenant", slug, env=env)
        assert clean.returncode == 0 and "no drift" in clean.stdout, clean.stdout + clean.stderr
        driver = AsyncGraphDatabase.driver(
            neo4j_server.url, auth=(neo4j_server.user, neo4j_server.password)
        )
        async with driver:
            await driver.execute_query(
                "MATCH (a:Product {tenant_id: $t, id: $id})"
                " REMOVE a.sale_together, a.sale_together_w",
                t=str(shop.tenant_id), id=headphones,
            )  # fmt: skip
        drifted = run("sync", "verify", "graph", "--tenant", slug, env=env)
        out = " ".join(drifted.stdout.split())  # the table wraps long words
        assert drifted.returncode == 1, drifted.stdout + drifted.stderr
        assert "drift by kind: list:FREQUENTLY_BOUGHT_WITH 1" in out, drifted.stdout
        assert "1 for-sale list(s)" in out and "sync rebuild graph" in out, drifted.stdout
        assert f"missing: list:FREQUENTLY_BOUGHT_WITH {headphones} (shop {shop.tenant_id})" in (
            drifted.stdout
        )
    finally:
        await store.clear(shop.tenant_id)
        await store.close()
