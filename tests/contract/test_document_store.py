"""One contract for every DocumentStore adapter: the same calls give the same answers, on
PostgreSQL JSONB and on MongoDB (FerretDB here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from polyshop import bootstrap
from polyshop.adapters.mongo import MongoDocumentStore
from polyshop.adapters.postgres import PostgresDocumentStore
from polyshop.ports import DocumentChange, DocumentStore
from tests.support.ferretdb import FerretDB

ADAPTERS = ["postgres-jsonb", "mongodb"]


@pytest.fixture(params=ADAPTERS)
async def store(
    request: pytest.FixtureRequest, app: bootstrap.Container
) -> AsyncIterator[DocumentStore]:
    if request.param == "postgres-jsonb":
        yield PostgresDocumentStore(app.relay_database)
        return
    ferretdb: FerretDB = request.getfixturevalue("ferretdb")
    mongo = MongoDocumentStore(ferretdb.url, app.relay_database, database_name="polyshop_contract")
    await mongo.prepare()
    yield mongo
    await mongo.close()


@pytest.fixture
async def tenants(app: bootstrap.Container) -> tuple[object, object]:
    first = await app.tenants.create(f"docs-{uuid4().hex[:10]}", "Docs A")
    second = await app.tenants.create(f"docs-{uuid4().hex[:10]}", "Docs B")
    return first.id, second.id


def product(n: int, **extra: object) -> dict[str, object]:
    return {
        "_id": f"p{n}", "name": f"Product {n}", "slug": f"product-{n}", "status": "active",
        "pricing": {"price": Decimal(f"{n}.99"), "currency": "USD"},
        "category": {"id": "c1", "path": ["All", "Audio"]},
        "metadata": {"createdAt": datetime(2026, 1, n, tzinfo=UTC)},
        **extra,
    }  # fmt: skip


async def test_money_and_times_keep_their_types(store: DocumentStore, tenants: tuple) -> None:  # type: ignore[type-arg]
    tenant, _ = tenants
    await store.apply([DocumentChange(tenant, "products", "p1", product(1), 1)], None)
    found = await store.get(tenant, "products", "p1")
    assert found == {**product(1), "tenant_id": str(tenant)}
    assert isinstance(found["pricing"]["price"], Decimal)  # type: ignore[index]
    assert found["pricing"]["price"] == Decimal("1.99")  # type: ignore[index]
    assert found["metadata"]["createdAt"] == datetime(2026, 1, 1, tzinfo=UTC)  # type: ignore[index]


async def test_an_older_version_never_overwrites_a_newer_one(
    store: DocumentStore, tenants: tuple
) -> None:  # type: ignore[type-arg]
    tenant, _ = tenants
    assert (
        await store.apply(
            [DocumentChange(tenant, "products", "p1", product(1, name="new"), 5)], None
        )
        == 1
    )
    assert (
        await store.apply(
            [DocumentChange(tenant, "products", "p1", product(1, name="old"), 4)], None
        )
        == 0
    )
    assert (await store.get(tenant, "products", "p1"))["name"] == "new"  # type: ignore[index]
    # The same state again changes nothing; a newer one wins; deletion is versioned too.
    assert (
        await store.apply(
            [DocumentChange(tenant, "products", "p1", product(1, name="new"), 5)], None
        )
        == 0
    )
    assert await store.apply([DocumentChange(tenant, "products", "p1", None, 3)], None) == 0
    assert await store.apply([DocumentChange(tenant, "products", "p1", None, 6)], None) == 1
    assert await store.get(tenant, "products", "p1") is None


async def test_find_by_nested_fields_with_sorting(store: DocumentStore, tenants: tuple) -> None:  # type: ignore[type-arg]
    tenant, _ = tenants
    docs = [product(n) for n in (3, 1, 2)] + [product(4, status="draft")]
    await store.apply([DocumentChange(tenant, "products", d["_id"], d, 1) for d in docs], None)  # type: ignore[arg-type]
    active = await store.find(tenant, "products", equals={"category.id": "c1", "status": "active"},
                              sort="metadata.createdAt", descending=True)  # fmt: skip
    assert [d["_id"] for d in active] == ["p3", "p2", "p1"]
    by_slug = await store.find(tenant, "products", equals={"slug": "product-2"}, limit=1)
    assert [d["_id"] for d in by_slug] == ["p2"]
    by_name = await store.find(tenant, "products", equals={}, sort="name", limit=2)
    assert [d["_id"] for d in by_name] == ["p1", "p2"]


async def test_tenants_never_see_each_others_documents(
    store: DocumentStore, tenants: tuple
) -> None:  # type: ignore[type-arg]
    first, second = tenants
    await store.apply([DocumentChange(first, "products", "p1", product(1), 1),
                       DocumentChange(second, "products", "p1", product(1, name="theirs"), 1)], None)  # fmt: skip
    assert (await store.get(first, "products", "p1"))["name"] == "Product 1"  # type: ignore[index]
    assert (await store.get(second, "products", "p1"))["name"] == "theirs"  # type: ignore[index]
    assert set(await store.all(first, "products")) == {"p1"}
    await store.clear(first, "products")
    assert await store.all(first, "products") == {}
    assert set(await store.all(second, "products")) == {"p1"}


async def test_documents_by_ids_and_every_id_in_pages(store: DocumentStore, tenants: tuple) -> None:  # type: ignore[type-arg]
    """What a streaming `sync verify` reads: some documents by id, and every id page by page in
    one order (the text order of the ids), never another tenant's."""
    first, second = tenants
    await store.apply([DocumentChange(first, "products", f"p{n}", product(n), 1)
                       for n in range(1, 8)], None)  # fmt: skip
    await store.apply([DocumentChange(second, "products", "p0", product(9), 1)], None)
    found = await store.get_many(first, "products", ["p2", "p5", "p9", "p0"])
    assert found == {f"p{n}": {**product(n), "tenant_id": str(first)} for n in (2, 5)}
    pages, after = [], None
    while page := await store.id_page(first, "products", after, 3):
        pages.append(page)
        after = page[-1]
    assert pages == [["p1", "p2", "p3"], ["p4", "p5", "p6"], ["p7"]]
    assert await store.id_page(second, "products", None, 10) == ["p0"]
    assert await store.id_page(first, "users", None, 10) == []


async def test_mongodb_adapter_creates_what_the_server_supports(
    app: bootstrap.Container, ferretdb: FerretDB
) -> None:
    mongo = MongoDocumentStore(
        ferretdb.url, app.relay_database, database_name=f"polyshop_prep_{uuid4().hex[:6]}"
    )
    try:
        skipped = await mongo.prepare()
        indexes = {i["name"] for i in [x async for x in await mongo._db["products"].list_indexes()]}
        assert {"tenant_slug", "tenant_category_status_name"} <= indexes
        # FerretDB 1.x has no text or 2dsphere indexes and no $jsonSchema validators: the adapter
        # notices, logs, and carries on; on MongoDB 6+ this list is empty.
        assert any("text_search" in s for s in skipped)
        assert "text_search" not in indexes
        assert any("Decimal128" in s for s in skipped)
    finally:
        await mongo.close()


async def test_a_store_that_did_not_prepare_finds_out_how_to_keep_money(
    app: bootstrap.Container,
    ferretdb: FerretDB,
    tenants: tuple,  # type: ignore[type-arg]
) -> None:
    """`polyshop up` prepares the collections; the API server and the relay worker open their
    own store later and must still learn whether the server takes Decimal128 (FerretDB 1.x
    does not, and drops the connection on one) before they write money or query by it."""
    tenant, _ = tenants
    fresh = MongoDocumentStore(ferretdb.url, app.relay_database, database_name="polyshop_contract")
    try:
        await fresh.apply([DocumentChange(tenant, "products", "p7", product(7), 1)], None)
        found = await fresh.get(tenant, "products", "p7")
        assert found is not None and found["pricing"]["price"] == Decimal("7.99")
        priced = await fresh.find(tenant, "products", equals={"pricing.price": Decimal("7.99")})
        assert [p["_id"] for p in priced] == ["p7"]
    finally:
        await fresh.close()
