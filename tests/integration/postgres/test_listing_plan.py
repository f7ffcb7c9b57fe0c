"""A shopper's listing of a category subtree by price reads, per category of the subtree, the
first entries of `products_category_price_idx` (migration 0016), for the application role
under row-level security, whatever the number of products of the shop; and it returns the very
pages the general listing statement returns. Also with statistics taken before the shop's
products existed: the planner then puts a category's rows at a handful, and without the
listing's planner settings (`listing_planner`) it read them all with a bitmap scan to sort
them."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from polyshop import bootstrap
from polyshop.adapters.postgres import fetch_all
from polyshop.services.catalog import (
    ProductQuery,
    ProductSummary,
    listing_planner,
    listing_statement,
)

PRODUCTS_PER_CATEGORY = 1500


def _scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan] if plan.get("Relation Name") == "products" else []
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


@pytest.mark.parametrize("statistics", ["fresh", "taken before the products"])
async def test_the_subtree_by_price_reads_a_page_per_category_from_the_index(
    app: bootstrap.Container, admin_url: str, statistics: str
) -> None:
    tenant = await app.tenants.create(f"list-{uuid4().hex[:8]}", "Listing")
    vendor = await app.catalog.create_vendor(tenant.id, "Vendor")
    root = await app.catalog.create_category(tenant.id, "Root")
    children = [await app.catalog.create_category(tenant.id, f"Child {n}", parent_id=root.id)
                for n in range(2)]  # fmt: skip
    elsewhere = await app.catalog.create_category(tenant.id, "Elsewhere")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        if statistics != "fresh":
            admin.execute("ANALYZE products")
        for category in (root, *children, elsewhere):
            admin.execute(
                "INSERT INTO products (tenant_id, name, slug, sku, price, category_id, vendor_id,"
                " status)"
                " SELECT %(t)s, 'P ' || n, %(c)s || '-' || n, %(c)s || '-' || n,"
                " (n * 7919 %% 100000) / 100.0, %(c)s, %(v)s,"
                " CASE WHEN n %% 10 = 0 THEN 'draft' ELSE 'active' END"
                " FROM generate_series(1, %(n)s) AS n",
                {"t": tenant.id, "c": category.id, "v": vendor, "n": PRODUCTS_PER_CATEGORY},
            )
        if statistics == "fresh":
            admin.execute("ANALYZE products")
    query = ProductQuery(category_id=root.id, min_price=Decimal("20.005"),
                         max_price=Decimal(400), sort="price_asc", limit=20)  # fmt: skip
    for sort in ("price_asc", "price_desc"):
        # With the planner settings `list_products` sends with it, in its transaction.
        statement, params = listing_statement(replace(query, sort=sort))
        async with app.database.unit_of_work(tenant.id) as uow:
            (row,) = await fetch_all(
                uow.connection, psycopg.sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + statement,
                params, listing_planner(replace(query, sort=sort)),
            )  # fmt: skip
            plan = row[0][0]["Plan"]
        scans = _scans(plan)
        assert [s["Node Type"] for s in scans] == ["Index Scan"], json.dumps(plan)
        (scan,) = scans
        assert scan["Index Name"] == "products_category_price_idx"
        for column in ("tenant_id", "status", "category_id", "price_cents"):
            assert column in scan["Index Cond"], scan["Index Cond"]
        assert "Filter" not in scan  # nothing read and thrown away
        # Three categories of the subtree, at most a page and one each: 63 of 6,000 products.
        assert scan["Actual Loops"] == 3
        assert scan["Actual Rows"] <= query.limit + 1

    # The same pages, page after page, as the general statement (numeric price range, IN).
    for sort in ("price_asc", "price_desc"):
        page_query = replace(query, sort=sort)
        pages = 0
        while True:
            fast = await app.catalog.list_products(tenant.id, page_query)
            statement, params = listing_statement(page_query, by_category_index=False)
            async with app.database.unit_of_work(tenant.id) as uow:
                cursor = await uow.connection.execute(statement, params)
                general = [ProductSummary(*row) for row in await cursor.fetchall()]
            assert fast.items == general[: page_query.limit]
            assert all(Decimal("20.01") <= p.price <= 400 for p in fast.items)
            pages += 1
            if fast.next_cursor is None or pages == 4:
                break
            page_query = replace(page_query, cursor=fast.next_cursor)
        assert pages == 4
