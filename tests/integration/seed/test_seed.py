"""`polyshop seed`'s loader on real PostgreSQL, in databases of its own: the schema accepts every
row (constraints, triggers, the deferred order check), the ledger equals the stock, each tenant
sees only its own rows through row-level security, the same seed loads the same data, the
derived stores rebuild without drift, and the shop keeps working afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any
from unittest.mock import patch
from uuid import UUID

import psycopg
import pytest

from polyshop import bootstrap
from polyshop.adapters.postgres import drop_database, provision, upgrade
from polyshop.codec import encode
from polyshop.domain.errors import ConflictError
from polyshop.domain.orders import OrderStatus, is_legal_history
from polyshop.services.checkout import CheckoutRequest, OrderLine
from polyshop.services.seeding import Seeder, SeedPlan, SeedReport
from polyshop.sync import documents as documents_module
from polyshop.sync.documents import BUILDERS, canonical
from polyshop.sync.maintenance import rebuild, verify
from tests.conftest import test_settings as settings_for

PLAN = SeedPlan(shops=2, users=80, products=40, orders=300, events=600, seed=5, months=4,
                until=date.today())  # fmt: skip
Seeded = tuple[bootstrap.StoreUrls, SeedReport]


async def _seed_into(database: str) -> Seeded:
    urls = bootstrap.store_urls(settings_for(database=database))
    assert urls.postgres_admin is not None
    drop_database(urls.postgres_admin)
    provision(urls.postgres_admin, urls.postgres, relay_url=urls.postgres_relay,
              platform_url=urls.postgres_platform)  # fmt: skip
    upgrade(urls.postgres_admin)
    return urls, await Seeder(urls.postgres_admin).run(PLAN)


@pytest.fixture(scope="module")
async def seeded() -> AsyncIterator[Seeded]:
    found = await _seed_into("polyshop_seed_a")
    yield found
    assert found[0].postgres_admin is not None
    drop_database(found[0].postgres_admin)


def _rows(admin_url: str, query: str) -> list[Any]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute(query).fetchall()


async def test_the_ledger_equals_the_stock_of_every_item(seeded: Seeded) -> None:
    urls, report = seeded
    assert urls.postgres_admin is not None
    assert report.rows["inventory_transactions"] > report.rows["order_items"]
    wrong = _rows(urls.postgres_admin, """
        SELECT p.sku, p.inventory_quantity, coalesce(sum(t.quantity), 0) FROM products p
          LEFT JOIN inventory_transactions t
            ON t.tenant_id = p.tenant_id AND t.product_id = p.id AND t.variant_id IS NULL
         WHERE NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id)
         GROUP BY p.sku, p.inventory_quantity HAVING p.inventory_quantity <> coalesce(sum(t.quantity), 0)
        UNION ALL
        SELECT v.sku, v.inventory_quantity, coalesce(sum(t.quantity), 0) FROM product_variants v
          LEFT JOIN inventory_transactions t ON t.tenant_id = v.tenant_id AND t.variant_id = v.id
         GROUP BY v.sku, v.inventory_quantity HAVING v.inventory_quantity <> coalesce(sum(t.quantity), 0)
    """)  # fmt: skip
    assert wrong == []
    (stocked,) = _rows(urls.postgres_admin, "SELECT sum(inventory_quantity) FROM product_variants")[
        0
    ]
    assert stocked > 0


async def test_every_order_adds_up_and_has_a_legal_history(seeded: Seeded) -> None:
    urls, _ = seeded
    assert urls.postgres_admin is not None
    wrong = _rows(urls.postgres_admin, """
        SELECT o.order_number FROM orders o
          JOIN payments p ON p.tenant_id = o.tenant_id AND p.order_id = o.id
         WHERE o.subtotal <> (SELECT sum(i.total_price) FROM order_items i
                               WHERE i.tenant_id = o.tenant_id AND i.order_id = o.id)
            OR o.total_amount <> o.subtotal + o.tax_amount + o.shipping_amount - o.discount_amount
            OR p.amount <> o.total_amount OR p.refunded_amount > p.amount
            OR (o.status = 'refunded') <> (p.status = 'refunded')
            OR (o.status = 'cancelled') <> (p.status = 'declined')
    """)  # fmt: skip
    assert wrong == []
    histories = _rows(urls.postgres_admin, """
        SELECT o.status, array_agg(e.to_status ORDER BY e.created_at, e.from_status NULLS FIRST)
          FROM orders o JOIN order_events e ON e.tenant_id = o.tenant_id AND e.order_id = o.id
         GROUP BY o.id, o.status
    """)  # fmt: skip
    assert len(histories) == PLAN.orders
    for status, path in histories:
        steps = [OrderStatus(s) for s in path]
        assert steps[0] == OrderStatus.PENDING and steps[-1] == status
        assert is_legal_history(steps)
    reviews = _rows(urls.postgres_admin, """
        SELECT count(*) FILTER (WHERE o.status <> 'delivered' OR r.created_at < o.delivered_at
                                   OR r.user_id <> o.user_id OR NOT r.is_verified_purchase),
               count(*)
          FROM reviews r JOIN orders o ON o.tenant_id = r.tenant_id AND o.id = r.order_id
    """)  # fmt: skip
    assert reviews[0][0] == 0 and reviews[0][1] > 0


async def test_each_tenant_sees_exactly_its_own_rows(seeded: Seeded) -> None:
    urls, report = seeded
    async with bootstrap.application(settings_for(database="polyshop_seed_a"), urls) as app:
        seen = {}
        for tenant_id, _ in report.tenants:
            async with app.database.unit_of_work(tenant_id) as uow:
                cursor = await uow.connection.execute(
                    "SELECT (SELECT count(*) FROM orders), (SELECT count(DISTINCT tenant_id)"
                    " FROM orders), (SELECT count(*) FROM users WHERE role = 'customer')"
                )
                seen[tenant_id] = await cursor.fetchone()
    for index, (tenant_id, _) in enumerate(report.tenants):
        orders, tenants, customers = seen[tenant_id]
        assert orders == PLAN.share(PLAN.orders, index) and tenants == 1
        assert customers == PLAN.share(PLAN.users, index)


async def test_the_same_seed_loads_the_same_data(seeded: Seeded) -> None:
    urls, _ = seeded
    other, _ = await _seed_into("polyshop_seed_b")
    digest = """
        SELECT (SELECT md5(string_agg(o::text, '|' ORDER BY o.id)) FROM orders o),
               (SELECT md5(string_agg(i::text, '|' ORDER BY i.id)) FROM order_items i),
               (SELECT md5(string_agg(p.id || p.sku || p.price || p.inventory_quantity, '|'
                                      ORDER BY p.id)) FROM products p),
               (SELECT md5(string_agg(u.id || u.email || u.created_at, '|' ORDER BY u.id)) FROM users u),
               (SELECT md5(string_agg(r::text, '|' ORDER BY r.id)) FROM reviews r),
               (SELECT md5(string_agg(x.payload::text || x.created_at, '|'
                                      ORDER BY x.created_at, x.aggregate_id, x.event_type)) FROM outbox x)
    """  # fmt: skip
    assert urls.postgres_admin is not None and other.postgres_admin is not None
    try:
        assert _rows(urls.postgres_admin, digest) == _rows(other.postgres_admin, digest)
    finally:
        drop_database(other.postgres_admin)


async def test_the_derived_stores_rebuild_without_drift(seeded: Seeded) -> None:
    urls, _ = seeded
    async with bootstrap.application(settings_for(database="polyshop_seed_a"), urls) as app:
        rebuilt = []
        for relay in app.relays:
            assert await rebuild(relay) > 0, relay.name
            drift = await verify(relay)
            assert drift.clean and drift.checked > 0, (relay.name, drift)
            rebuilt.append(relay.name)
    assert {"documents", "analytics"} <= set(rebuilt)


async def test_the_shop_keeps_selling_after_the_seed(seeded: Seeded) -> None:
    urls, report = seeded
    tenant_id = report.tenants[0][0]
    async with bootstrap.application(settings_for(database="polyshop_seed_a"), urls) as app:
        async with app.database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT p.id, p.inventory_quantity, u.id, o.n FROM products p,"
                " (SELECT id FROM users WHERE role = 'customer' LIMIT 1) u,"
                " (SELECT max(order_number::int) AS n FROM orders) o"
                " WHERE p.status = 'active' AND p.inventory_quantity > 0 LIMIT 1"
            )
            product, stock, customer, last_number = await cursor.fetchone()  # type: ignore[misc]
        address = {"firstName": "A", "lastName": "B", "street": "1 Road", "city": "Town",
                   "postalCode": "1000", "country": "US"}  # fmt: skip
        placed = await app.checkout.place_order(
            tenant_id, CheckoutRequest(customer, (OrderLine(product, 1),), address)
        )
        assert int(placed.order_number) == last_number + 1
        assert placed.total > Decimal(0)
        async with app.database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT inventory_quantity FROM products WHERE id = %s", (product,)
            )
            assert await cursor.fetchone() == (stock - 1,)


async def test_seeding_a_seeded_database_again_is_refused_and_writes_nothing(
    seeded: Seeded,
) -> None:
    urls, _ = seeded
    assert urls.postgres_admin is not None
    before = _rows(
        urls.postgres_admin, "SELECT count(*), (SELECT count(*) FROM orders) FROM tenants"
    )
    with pytest.raises(ConflictError, match="already exists"):
        await Seeder(urls.postgres_admin).run(PLAN)
    after = _rows(
        urls.postgres_admin, "SELECT count(*), (SELECT count(*) FROM orders) FROM tenants"
    )
    assert after == before


async def test_the_server_builds_the_documents_the_relay_would_write(seeded: Seeded) -> None:
    """`sync rebuild documents` builds in SQL (`sync/_document_sql.py`); the relay in Python.
    Stored bodies must be the same JSON to the character (dates in one ISO format, so sorting
    by them stays right), not only equal once decoded."""
    urls, report = seeded
    tenant_id = report.tenants[0][0]
    async with bootstrap.application(settings_for(database="polyshop_seed_a"), urls) as app:
        (relay,) = [r for r in app.relays if r.name == "documents"]
        await rebuild(relay)
        async with app.relay_database.unit_of_work(tenant_id) as uow:
            for collection, builder in BUILDERS.items():
                cursor = await uow.connection.execute(
                    "SELECT id, body FROM documents WHERE collection = %s", (collection,)
                )
                stored = dict(await cursor.fetchall())
                built = await builder(uow.connection, [UUID(i) for i in stored])
                assert len(built) == len(stored) > 0
                for doc_id, document in built.items():
                    expected = encode({**canonical(document), "tenant_id": str(tenant_id)})
                    assert stored[str(doc_id)] == expected, (collection, doc_id)


async def test_verify_streams_and_still_finds_every_kind_of_drift(seeded: Seeded) -> None:
    urls, report = seeded
    tenant_id = report.tenants[1][0]
    async with bootstrap.application(settings_for(database="polyshop_seed_a"), urls) as app:
        (relay,) = [r for r in app.relays if r.name == "documents"]
        await rebuild(relay)
        async with app.relay_database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT id FROM documents WHERE collection = 'orders' ORDER BY id LIMIT 2"
            )
            (gone,), (changed,) = await cursor.fetchall()
            await uow.connection.execute(
                "DELETE FROM documents WHERE collection = 'orders' AND id = %s", (gone,)
            )
            await uow.connection.execute(
                "UPDATE documents SET body = jsonb_set(body, '{status}', '\"lost\"')"
                " WHERE collection = 'orders' AND id = %s", (changed,)
            )  # fmt: skip
            await uow.connection.execute(
                "INSERT INTO documents (tenant_id, collection, id, body, version)"
                " VALUES (%s, 'users', 'ffffffff-0000-4000-8000-000000000000', '{}', 1)",
                (tenant_id,),
            )
            await uow.commit()
        with patch.object(documents_module, "VERIFY_CHUNK", 7):  # many chunks: the seams too
            drift = await verify(relay)
        assert drift.missing == [(tenant_id, "orders", gone)]
        assert drift.different == [(tenant_id, "orders", changed)]
        assert drift.extra == [(tenant_id, "users", "ffffffff-0000-4000-8000-000000000000")]
        assert urls.postgres_admin is not None
        assert [(drift.checked,)] == _rows(  # every document of every shop, built once
            urls.postgres_admin,
            "SELECT (SELECT count(*) FROM products) + (SELECT count(*) FROM users)"
            " + (SELECT count(*) FROM orders)",
        )
        await rebuild(relay)
        assert (await verify(relay)).clean
