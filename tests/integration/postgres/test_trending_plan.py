"""Trending on the PostgreSQL graph twin reads, per category of the subtree, the first entries
of `graph_products_category_idx` (tenant, category, trend desc), for the application role under
row-level security, whatever the number of products of the shop; an `IN (subtree)` semi-join
read every product of the shop (docs/benchmarks.md, 10k against 1M orders)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest

from polyshop import bootstrap
from polyshop.adapters.postgres import PostgresGraphStore

PER_CATEGORY = 1500
LIMIT = 10


def _scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if plan.get("Relation Name") == "graph_products" else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


async def test_trending_reads_the_first_entries_of_each_category_of_the_subtree(
    app: bootstrap.Container, admin_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = (await app.tenants.create(f"trend-{uuid4().hex[:8]}", "Trending")).id
    root, audio, video, elsewhere = (uuid4() for _ in range(4))
    with psycopg.connect(admin_url, autocommit=True) as admin:
        for category, parent in ((root, None), (audio, root), (video, root), (elsewhere, None)):
            admin.execute(
                "INSERT INTO graph_categories (tenant_id, id, name, parent_id)"
                " VALUES (%s, %s, 'c', %s)", (tenant, category, parent),
            )  # fmt: skip
            # Many equal trends, so the tie on id matters; every 7th product not for sale.
            admin.execute(
                "INSERT INTO graph_products (tenant_id, id, name, for_sale, category_id, trend)"
                " SELECT %s, gen_random_uuid(), 'p' || n, n %% 7 <> 0, %s, (n * 37 %% 101)::float"
                " FROM generate_series(1, %s) AS n", (tenant, category, PER_CATEGORY),
            )  # fmt: skip
        admin.execute("ANALYZE graph_products")
        expected = [
            (row[0], row[1])
            for row in admin.execute(
                "SELECT id, trend FROM graph_products WHERE tenant_id = %s AND for_sale"
                " AND category_id = ANY(%s) ORDER BY trend DESC, id LIMIT %s",
                (tenant, [root, audio, video], LIMIT),
            ).fetchall()
        ]
    store = PostgresGraphStore(app.database)  # the application role, as requests read
    statements: list[tuple[str, Any]] = []
    execute = psycopg.AsyncCursor.execute

    async def recording(self: Any, query: Any, params: Any = None, **kw: Any) -> Any:
        statements.append((query, params))
        return await execute(self, query, params, **kw)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", recording)
    found = await store.trending(tenant, root, LIMIT)
    monkeypatch.undo()
    assert [(r.product_id, r.weight) for r in found] == expected
    (query, params) = next((q, p) for q, p in statements if "graph_products" in str(q))
    async with app.database.unit_of_work(tenant) as uow:
        cursor = await uow.connection.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params)
        plan = (await cursor.fetchone())[0][0]["Plan"]  # type: ignore[index]
    scans = _scans(plan)
    assert scans and all(s["Node Type"] == "Index Scan" for s in scans), json.dumps(plan)
    assert {s["Index Name"] for s in scans} == {"graph_products_category_idx"}
    assert all("category_id" in s["Index Cond"] for s in scans)
    # Three categories, a page or so each: not the 6,000 products of the shop.
    read = sum(s["Actual Rows"] * s["Actual Loops"] for s in scans)
    assert read <= 3 * (LIMIT + 10), json.dumps(plan)
    assert all(isinstance(r.product_id, UUID) for r in found)
