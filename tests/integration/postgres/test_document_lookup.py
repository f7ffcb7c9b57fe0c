"""A customer's order history and a product by slug are index lookups under row-level security.

The policy's condition is evaluated before any query condition that is not leakproof, and the
jsonb operators are not, so an expression index on the document body can never be used by the
application role; the `lookup_key` column (migration 0010) is compared with a leakproof `=`.
These tests look at the plan the application role gets, and at the answers of the adapter."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import psycopg

from polyshop import bootstrap
from polyshop.adapters.postgres import PostgresDocumentStore
from polyshop.ports import DocumentChange


async def _shop_with_orders(app: bootstrap.Container) -> tuple[Any, list[str]]:
    tenant = await app.tenants.create(f"lookup-{uuid4().hex[:8]}", "Lookup")
    customers = [str(uuid4()) for _ in range(40)]
    changes = [
        DocumentChange(tenant.id, "orders", str(uuid4()),
                       {"user": {"id": customers[n % 40]},
                        "metadata": {"createdAt": f"2026-01-{n % 28 + 1:02d}T10:00:00+00:00"}}, 1)
        for n in range(1200)
    ] + [
        DocumentChange(tenant.id, "products", str(uuid4()), {"slug": f"p-{n}", "status": "active"}, 1)
        for n in range(300)
    ]  # fmt: skip
    # Documents are written by the relay's role (the application's only reads them).
    await PostgresDocumentStore(app.relay_database).apply(changes, None)
    return tenant, customers


async def test_the_application_role_reads_a_history_and_a_slug_through_the_index(
    app: bootstrap.Container, admin_url: str
) -> None:
    tenant, customers = await _shop_with_orders(app)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("ANALYZE documents")
    async with app.database.unit_of_work(tenant.id) as uow:
        plans = []
        for collection, equals, key in (
            ("orders", {"user": {"id": customers[3]}}, customers[3]),
            ("products", {"slug": "p-7"}, "p-7"),
        ):
            cursor = await uow.connection.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) SELECT body FROM documents"
                " WHERE collection = %s AND body @> %s AND lookup_key = %s"
                " ORDER BY id LIMIT 20",
                (collection, json.dumps(equals), key),
            )
            plans.append(json.dumps((await cursor.fetchone())[0]))  # type: ignore[index]
    for plan in plans:
        assert "documents_lookup_idx" in plan
        assert '"Rows Removed by Filter": 0' in plan or "Rows Removed by Filter" not in plan


async def test_the_adapter_answers_by_the_lookup_key(app: bootstrap.Container) -> None:
    tenant, customers = await _shop_with_orders(app)
    store = PostgresDocumentStore(app.database)
    history = await store.find(tenant.id, "orders", equals={"user.id": customers[5]},
                               sort="metadata.createdAt", descending=True, limit=50)  # fmt: skip
    assert len(history) == 30 and {d["user"]["id"] for d in history} == {customers[5]}
    dates = [d["metadata"]["createdAt"] for d in history]
    assert dates == sorted(dates, reverse=True)
    (product,) = await store.find(tenant.id, "products", equals={"slug": "p-7", "status": "active"})
    assert product["slug"] == "p-7"
    assert await store.find(tenant.id, "products", equals={"slug": "p-7", "status": "draft"}) == []
