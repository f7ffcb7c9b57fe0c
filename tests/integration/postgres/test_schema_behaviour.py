"""Rules the schema enforces beyond single-row constraints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.integration.postgres.graph import Graph


def test_updated_at_moves_on_update(
    admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    tables = [
        row[0]
        for row in admin.execute(
            "SELECT c.table_name FROM information_schema.columns c JOIN information_schema.tables t"
            " USING (table_schema, table_name) WHERE c.table_schema = 'public'"
            " AND c.column_name = 'updated_at' AND t.table_type = 'BASE TABLE'"
        )
    ]
    assert len(tables) >= 14
    for table in tables:
        # Tenant rows by their id, tenant-owned rows by tenant, platform rows by name.
        key, value = {"tenants": ("id", alpha.tenant_id),
                      "sync_checkpoints": ("projector", "graph-test")}.get(
            table, ("tenant_id", alpha.tenant_id))  # fmt: skip
        with admin.transaction(force_rollback=True):
            admin.execute(
                f"UPDATE {table} SET updated_at = '2000-01-01' WHERE {key} = %s", (value,)
            )
            # The trigger overwrites the stale value the statement tried to write.
            row = admin.execute(
                f"SELECT min(updated_at) FROM {table} WHERE {key} = %s", (value,)
            ).fetchone()
        assert row is not None and row[0] is not None and row[0].year > 2000, table


def test_analytics_events_land_in_their_month(
    admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    now = datetime.now(UTC)
    with admin.transaction(force_rollback=True):
        admin.execute(
            "INSERT INTO analytics_events (tenant_id, event_type, created_at) VALUES (%s, 'view', %s),"
            " (%s, 'view', '1999-06-01')",
            (alpha.tenant_id, now, alpha.tenant_id),
        )
        placed = admin.execute(
            "SELECT tableoid::regclass::text, created_at FROM analytics_events"
            " WHERE tenant_id = %s AND event_type = 'view' AND properties = '{}' ORDER BY created_at",
            (alpha.tenant_id,),
        ).fetchall()
    partitions = [p for p, _ in placed]
    assert partitions[0] == "analytics_events_default"
    assert f"analytics_events_{now:%Y_%m}" in partitions


def test_partitions_are_created_ahead_and_idempotently(admin: psycopg.Connection[Any]) -> None:
    with admin.transaction(force_rollback=True):
        first = admin.execute(
            "SELECT analytics_ensure_partitions(now() + interval '6 months', 2)"
        ).fetchone()
        again = admin.execute(
            "SELECT analytics_ensure_partitions(now() + interval '6 months', 2)"
        ).fetchone()
    assert first == (2,)
    assert again == (0,)


def test_concurrent_category_moves_cannot_close_a_cycle(
    admin_url: str, graphs: tuple[Graph, Graph]
) -> None:
    """Two moves that are each fine alone but form a cycle together: the second one fails."""
    alpha, _ = graphs
    a, b = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(admin_url, autocommit=True) as setup:
        setup.execute(
            "INSERT INTO categories (tenant_id, id, name, slug) VALUES (%s, %s, 'A', %s), (%s, %s, 'B', %s)",
            (alpha.tenant_id, a, f"a-{a}", alpha.tenant_id, b, f"b-{b}"),
        )
    with psycopg.connect(admin_url) as first, psycopg.connect(admin_url) as second:
        first.execute("UPDATE categories SET parent_id = %s WHERE id = %s", (b, a))
        # `second` blocks on the advisory lock until `first` commits, then sees the new edge.
        second.execute("SET lock_timeout = '5s'")
        import threading

        outcome: dict[str, BaseException | None] = {}

        def move() -> None:
            try:
                second.execute("UPDATE categories SET parent_id = %s WHERE id = %s", (a, b))
                second.commit()
                outcome["error"] = None
            except psycopg.Error as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=move)
        thread.start()
        first.commit()
        thread.join(10)
    assert isinstance(outcome["error"], psycopg.errors.CheckViolation)
    assert outcome["error"].diag.constraint_name == "categories_no_cycle"


def test_stock_lives_on_variants_once_a_product_has_them(
    admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    with admin.transaction(force_rollback=True):
        admin.execute(
            "UPDATE products SET inventory_quantity = 0 WHERE id = %s", (alpha.ids["product"],)
        )
        admin.execute(
            "INSERT INTO product_variants (tenant_id, product_id, title, sku, price, inventory_quantity)"
            " VALUES (%s, %s, 'Blue', 'HP-1-BLU', 199.99, 4)",
            (alpha.tenant_id, alpha.ids["product"]),
        )
        with pytest.raises(psycopg.errors.CheckViolation, match="stock lives on the variants"):
            admin.execute(
                "UPDATE products SET inventory_quantity = 1 WHERE id = %s", (alpha.ids["product"],)
            )


def test_an_order_changed_after_an_early_check_is_checked_again(
    admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph]
) -> None:
    alpha, _ = graphs
    with pytest.raises(psycopg.errors.CheckViolation) as caught:
        with admin.transaction(force_rollback=True):
            admin.execute(
                "UPDATE orders SET subtotal = subtotal WHERE id = %s", (alpha.ids["order"],)
            )
            admin.execute("SET CONSTRAINTS ALL IMMEDIATE")  # checks and marks the order
            admin.execute("SET CONSTRAINTS ALL DEFERRED")
            admin.execute("DELETE FROM order_items WHERE order_id = %s", (alpha.ids["order"],))
            admin.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert caught.value.diag.constraint_name == "orders_have_items"


def test_maintenance_prepares_partitions_and_purges_expired_keys(
    admin: psycopg.Connection[Any], admin_url: str, graphs: tuple[Graph, Graph]
) -> None:
    from polyshop.adapters.postgres import maintain

    alpha, _ = graphs
    admin.execute(
        "INSERT INTO idempotency_keys (tenant_id, scope, key, request_hash, created_at, expires_at)"
        " VALUES (%s, 'checkout', 'old-key', %s, now() - interval '2 days', now() - interval '1 day')",
        (alpha.tenant_id, "f" * 64),
    )
    far = admin.execute(
        "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '5 months', 'YYYY_MM')"
    ).fetchone()
    assert far is not None
    assert admin.execute("SELECT to_regclass(%s)", (f"analytics_events_{far[0]}",)).fetchone() == (
        None,
    )

    report = maintain(admin_url, months_ahead=5)

    assert report.partitions_created >= 1
    assert report.idempotency_keys_purged >= 1
    assert admin.execute(
        "SELECT to_regclass(%s)::text", (f"analytics_events_{far[0]}",)
    ).fetchone() == (f"analytics_events_{far[0]}",)
    assert admin.execute(
        "SELECT count(*) FROM idempotency_keys WHERE key = 'old-key'"
    ).fetchone() == (0,)
    assert admin.execute(
        "SELECT count(*) FROM idempotency_keys WHERE key = 'k1' AND tenant_id = %s",
        (alpha.tenant_id,),
    ).fetchone() == (1,)
    again = maintain(admin_url, months_ahead=5)
    assert again.partitions_created == 0
