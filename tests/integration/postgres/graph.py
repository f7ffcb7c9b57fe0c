"""A complete row graph for one tenant: at least one row in every tenant-owned table, with every
nullable foreign key filled, so catalog-driven tests can probe every constraint."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg


@dataclass
class Graph:
    tenant_id: uuid.UUID
    ids: dict[str, uuid.UUID] = field(default_factory=dict)


def _insert(conn: psycopg.Connection[Any], table: str, values: dict[str, Any]) -> uuid.UUID:
    columns = ", ".join(values)
    placeholders = ", ".join(["%s"] * len(values))
    params = [json.dumps(v) if isinstance(v, dict) else v for v in values.values()]
    conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", params)
    return values.get("id", uuid.uuid4())


def build_graph(conn: psycopg.Connection[Any], slug: str) -> Graph:
    """Insert as a superuser (no row-level security) one row of everything for a new tenant."""
    tenant_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO tenants (id, slug, name) VALUES (%s, %s, %s)", (tenant_id, slug, slug.title())
    )
    g = Graph(tenant_id)
    ids = g.ids
    for name in (
        "vendor",
        "brand",
        "customer",
        "staff",
        "address",
        "root_category",
        "category",
        "product",
        "product_with_variants",
        "variant",
        "attribute",
        "image",
        "order",
        "item",
        "variant_item",
        "payment",
        "refund",
        "order_event",
        "review",
        "review_image",
        "inventory",
        "page",
        "event",
    ):
        ids[name] = uuid.uuid4()
    t = tenant_id
    with conn.transaction():
        _insert(conn, "tenant_domains", {"tenant_id": t, "hostname": f"{slug}.shop.test"})
        _insert(
            conn,
            "vendors",
            {"tenant_id": t, "id": ids["vendor"], "name": "Vendor", "slug": "vendor"},
        )
        _insert(
            conn, "brands", {"tenant_id": t, "id": ids["brand"], "name": "Brand", "slug": "brand"}
        )
        _insert(
            conn,
            "users",
            {
                "tenant_id": t,
                "id": ids["customer"],
                "email": f"ann@{slug}.test",
                "password_hash": "x",
                "first_name": "Ann",
                "last_name": "Lee",
            },
        )
        _insert(
            conn,
            "users",
            {
                "tenant_id": t,
                "id": ids["staff"],
                "email": f"sam@{slug}.test",
                "password_hash": "x",
                "first_name": "Sam",
                "last_name": "Ray",
                "role": "vendor_staff",
                "vendor_id": ids["vendor"],
            },
        )
        _insert(conn, "user_profiles", {"tenant_id": t, "user_id": ids["customer"], "bio": "hi"})
        _insert(
            conn,
            "user_addresses",
            {
                "tenant_id": t,
                "id": ids["address"],
                "user_id": ids["customer"],
                "type": "shipping",
                "street_address": "1 Main St",
                "city": "Town",
                "postal_code": "10001",
                "country": "US",
                "is_default": True,
            },
        )
        _insert(
            conn,
            "categories",
            {"tenant_id": t, "id": ids["root_category"], "name": "Root", "slug": "root"},
        )
        _insert(
            conn,
            "categories",
            {
                "tenant_id": t,
                "id": ids["category"],
                "name": "Audio",
                "slug": "audio",
                "parent_id": ids["root_category"],
            },
        )
        product = {
            "tenant_id": t,
            "category_id": ids["category"],
            "brand_id": ids["brand"],
            "vendor_id": ids["vendor"],
            "status": "active",
        }
        _insert(
            conn,
            "products",
            {
                **product,
                "id": ids["product"],
                "name": "Headphones",
                "slug": "headphones",
                "sku": "HP-1",
                "price": "199.99",
                "inventory_quantity": 10,
            },
        )
        _insert(
            conn,
            "products",
            {
                **product,
                "id": ids["product_with_variants"],
                "name": "Shirt",
                "slug": "shirt",
                "sku": "SH-1",
                "price": "20.00",
            },
        )
        _insert(
            conn,
            "product_variants",
            {
                "tenant_id": t,
                "id": ids["variant"],
                "product_id": ids["product_with_variants"],
                "title": "Black",
                "sku": "SH-1-BLK",
                "price": "20.00",
                "inventory_quantity": 5,
                "options": {"color": "black"},
            },
        )
        _insert(
            conn,
            "product_attributes",
            {
                "tenant_id": t,
                "id": ids["attribute"],
                "product_id": ids["product"],
                "name": "battery_hours",
                "value": "30",
                "type": "number",
            },
        )
        _insert(
            conn,
            "product_images",
            {
                "tenant_id": t,
                "id": ids["image"],
                "product_id": ids["product"],
                "url": "https://img.test/1.jpg",
                "is_primary": True,
            },
        )
        address = {"street": "1 Main St", "city": "Town", "postalCode": "10001", "country": "US"}
        _insert(
            conn,
            "orders",
            {
                "tenant_id": t,
                "id": ids["order"],
                "order_number": "1001",
                "user_id": ids["customer"],
                "status": "delivered",
                "subtotal": "219.99",
                "tax_amount": "10.00",
                "shipping_amount": "5.00",
                "discount_amount": "4.99",
                "total_amount": "230.00",
                "payment_status": "paid",
                "shipping_status": "delivered",
                "billing_address": address,
                "shipping_address": address,
                "shipped_at": "2026-01-01T00:00:00Z",
                "delivered_at": "2026-01-02T00:00:00Z",
            },
        )
        _insert(
            conn,
            "order_items",
            {
                "tenant_id": t,
                "id": ids["item"],
                "order_id": ids["order"],
                "product_id": ids["product"],
                "name": "Headphones",
                "sku": "HP-1",
                "quantity": 1,
                "unit_price": "199.99",
                "total_price": "199.99",
            },
        )
        _insert(
            conn,
            "order_items",
            {
                "tenant_id": t,
                "id": ids["variant_item"],
                "order_id": ids["order"],
                "product_id": ids["product_with_variants"],
                "variant_id": ids["variant"],
                "name": "Shirt",
                "sku": "SH-1-BLK",
                "quantity": 1,
                "unit_price": "20.00",
                "total_price": "20.00",
            },
        )
        _insert(
            conn,
            "payments",
            {
                "tenant_id": t,
                "id": ids["payment"],
                "order_id": ids["order"],
                "payment_method": "card",
                "payment_gateway": "test",
                "gateway_transaction_id": f"txn-{slug}",
                "amount": "230.00",
                "status": "completed",
            },
        )
        _insert(
            conn,
            "refunds",
            {
                "tenant_id": t,
                "id": ids["refund"],
                "order_id": ids["order"],
                "payment_id": ids["payment"],
                "amount": "10.00",
                "currency": "USD",
                "status": "settled",
                "settled_at": "2026-11-20T12:00:00Z",
                "gateway_refund_id": f"re-{slug}",
                "actor_user_id": ids["staff"],
                "expires_at": "2026-11-20T12:15:00Z",
            },
        )
        _insert(
            conn,
            "payment_webhook_events",
            {"tenant_id": t, "gateway": "stripe", "event_id": f"evt-{slug}",
             "event_type": "payment_intent.succeeded"},
        )  # fmt: skip
        _insert(
            conn,
            "order_events",
            {
                "tenant_id": t,
                "id": ids["order_event"],
                "order_id": ids["order"],
                "from_status": "shipped",
                "to_status": "delivered",
                "actor_user_id": ids["staff"],
            },
        )
        _insert(
            conn,
            "reviews",
            {
                "tenant_id": t,
                "id": ids["review"],
                "product_id": ids["product"],
                "user_id": ids["customer"],
                "order_id": ids["order"],
                "rating": 5,
                "is_verified_purchase": True,
            },
        )
        _insert(
            conn,
            "review_images",
            {
                "tenant_id": t,
                "id": ids["review_image"],
                "review_id": ids["review"],
                "url": "https://img.test/r.jpg",
            },
        )
        _insert(
            conn,
            "review_votes",
            {"tenant_id": t, "review_id": ids["review"], "user_id": ids["staff"]},
        )
        _insert(
            conn,
            "inventory_transactions",
            {
                "tenant_id": t,
                "id": ids["inventory"],
                "product_id": ids["product_with_variants"],
                "variant_id": ids["variant"],
                "type": "in",
                "quantity": 5,
                "reference_id": ids["order"],
                "created_by": ids["staff"],
            },
        )
        _insert(
            conn,
            "content_pages",
            {
                "tenant_id": t,
                "id": ids["page"],
                "title": "About",
                "slug": "about",
                "content": "Hello",
                "created_by": ids["staff"],
                "updated_by": ids["staff"],
            },
        )
        _insert(
            conn,
            "analytics_events",
            {
                "tenant_id": t,
                "id": ids["event"],
                "event_type": "view",
                "user_id": ids["customer"],
                "product_id": ids["product"],
            },
        )
        _insert(
            conn,
            "analytics_rollups",
            {
                "tenant_id": t,
                "subject_kind": "product",
                "subject_id": ids["product"],
                "hour": "2026-01-01T10:00:00Z",
                "event_type": "view",
                "events": 1,
                "last_at": "2026-01-01T10:00:00Z",
            },
        )
        _insert(
            conn,
            "analytics_daily_products",
            {
                "tenant_id": t,
                "day": "2026-01-01",
                "product_id": ids["product"],
                "views": 1,
                "last_at": "2026-01-01T10:00:00Z",
            },
        )
        _insert(
            conn,
            "outbox",
            {
                "tenant_id": t,
                "aggregate_type": "tenant",
                "aggregate_id": str(t),
                "event_type": "tenant.created",
                "payload": {},
            },
        )
        _insert(
            conn,
            "idempotency_keys",
            {"tenant_id": t, "scope": "checkout", "key": "k1", "request_hash": "0" * 64},
        )
        _insert(
            conn,
            "documents",
            {"tenant_id": t, "collection": "products", "id": str(ids["product"]),
             "body": {"slug": "headphones"}, "version": 1},
        )  # fmt: skip
        # The recommendation graph's PostgreSQL twin (migration 0009).
        _insert(conn, "graph_categories", {"tenant_id": t, "id": ids["category"], "name": "Audio",
                                           "parent_id": ids["root_category"]})  # fmt: skip
        _insert(conn, "graph_products", {"tenant_id": t, "id": ids["product"], "name": "Headphones",
                                         "category_id": ids["category"], "brand_id": ids["brand"]})  # fmt: skip
        conn.execute(
            "INSERT INTO graph_orders (tenant_id, id, user_id, placed_at, counted, products,"
            " payment_method) VALUES (%s, %s, %s, now(), true, %s, 'card')",
            (t, ids["order"], ids["customer"], [ids["product"]]),
        )
        _insert(conn, "graph_user_products", {"tenant_id": t, "user_id": ids["customer"],
                                              "product_id": ids["product"], "purchased": 1})  # fmt: skip
        _insert(conn, "graph_pairs", {"tenant_id": t, "product_id": ids["product"],
                                      "other_id": ids["product_with_variants"], "bought_together": 1})  # fmt: skip
        _insert(conn, "graph_applied_batches", {"tenant_id": t, "event_id": 1})
        _insert(conn, "sync_parked", {"tenant_id": t, "projector": "documents", "event_id": 1,
                                      "event_type": "product.updated", "error": "boom", "attempts": 3})  # fmt: skip
        conn.execute(
            "INSERT INTO sync_checkpoints (projector) VALUES ('graph-test') ON CONFLICT DO NOTHING"
        )
    return g


def insertable_columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """The columns an INSERT may name (generated columns excluded)."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name = %s AND is_generated = 'NEVER' ORDER BY ordinal_position",
            (table,),
        )
    ]
