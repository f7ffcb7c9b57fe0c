"""Every CHECK, UNIQUE and FOREIGN KEY rejects its bad row, and none is left untested: the list
of constraints to cover is read from the catalog, so a new migration must bring its cases."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from tests.integration.postgres.graph import Graph, insertable_columns

# (expected constraint, statement). Named parameters come from the alpha graph's ids.
CHECK_CASES: list[tuple[str, str]] = [
    ("tenants_slug_format", "UPDATE tenants SET slug = 'Bad Slug' WHERE id = %(tenant)s"),
    ("tenants_name_not_blank", "UPDATE tenants SET name = '  ' WHERE id = %(tenant)s"),
    ("tenants_currency_iso", "UPDATE tenants SET currency = 'usd' WHERE id = %(tenant)s"),
    ("tenants_status_valid", "UPDATE tenants SET status = 'gone' WHERE id = %(tenant)s"),
    ("tenants_settings_object", "UPDATE tenants SET settings = '[]' WHERE id = %(tenant)s"),
    (
        "tenant_domains_hostname_lower",
        "UPDATE tenant_domains SET hostname = 'UPPER.test' WHERE tenant_id = %(tenant)s",
    ),
    ("vendors_name_not_blank", "UPDATE vendors SET name = '' WHERE id = %(vendor)s"),
    ("brands_name_not_blank", "UPDATE brands SET name = ' ' WHERE id = %(brand)s"),
    ("users_email_format", "UPDATE users SET email = 'not-an-email' WHERE id = %(customer)s"),
    ("users_role_valid", "UPDATE users SET role = 'root' WHERE id = %(customer)s"),
    (
        "users_failed_login_attempts_nonnegative",
        "UPDATE users SET failed_login_attempts = -1 WHERE id = %(customer)s",
    ),
    ("users_vendor_matches_role", "UPDATE users SET vendor_id = NULL WHERE id = %(staff)s"),
    (
        "user_profiles_preferences_object",
        "UPDATE user_profiles SET preferences = '3' WHERE user_id = %(customer)s",
    ),
    ("user_addresses_type_valid", "UPDATE user_addresses SET type = 'home' WHERE id = %(address)s"),
    ("categories_name_not_blank", "UPDATE categories SET name = '' WHERE id = %(category)s"),
    ("categories_no_cycle", "UPDATE categories SET parent_id = id WHERE id = %(category)s"),
    (
        "categories_no_cycle",
        "UPDATE categories SET parent_id = %(category)s WHERE id = %(root_category)s",
    ),
    ("products_name_not_blank", "UPDATE products SET name = '' WHERE id = %(product)s"),
    ("products_price_nonnegative", "UPDATE products SET price = -1 WHERE id = %(product)s"),
    (
        "products_compare_price_nonnegative",
        "UPDATE products SET compare_price = -1 WHERE id = %(product)s",
    ),
    (
        "products_cost_price_nonnegative",
        "UPDATE products SET cost_price = -1 WHERE id = %(product)s",
    ),
    ("products_weight_nonnegative", "UPDATE products SET weight = -1 WHERE id = %(product)s"),
    ("products_dimensions_object", "UPDATE products SET dimensions = '[]' WHERE id = %(product)s"),
    ("products_status_valid", "UPDATE products SET status = 'live' WHERE id = %(product)s"),
    (
        "products_inventory_policy_valid",
        "UPDATE products SET inventory_policy = 'maybe' WHERE id = %(product)s",
    ),
    (
        "products_low_stock_threshold_nonnegative",
        "UPDATE products SET low_stock_threshold = -1 WHERE id = %(product)s",
    ),
    (
        "products_stock_not_oversold",
        "UPDATE products SET inventory_quantity = -1 WHERE id = %(product)s",
    ),
    (
        "products_stock_location",
        "UPDATE products SET inventory_quantity = 3 WHERE id = %(product_with_variants)s",
    ),
    (
        "products_stock_location",
        "INSERT INTO product_variants (tenant_id, product_id, title, sku, price)"
        " VALUES (%(tenant)s, %(product)s, 'Red', 'HP-1-RED', 1)",
    ),
    (
        "product_variants_price_nonnegative",
        "UPDATE product_variants SET price = -1 WHERE id = %(variant)s",
    ),
    (
        "product_variants_compare_price_nonnegative",
        "UPDATE product_variants SET compare_price = -1 WHERE id = %(variant)s",
    ),
    (
        "product_variants_cost_price_nonnegative",
        "UPDATE product_variants SET cost_price = -1 WHERE id = %(variant)s",
    ),
    (
        "product_variants_weight_nonnegative",
        "UPDATE product_variants SET weight = -1 WHERE id = %(variant)s",
    ),
    (
        "product_variants_options_object",
        "UPDATE product_variants SET options = '\"red\"' WHERE id = %(variant)s",
    ),
    (
        "product_variants_inventory_policy_valid",
        "UPDATE product_variants SET inventory_policy = 'x' WHERE id = %(variant)s",
    ),
    (
        "product_variants_stock_not_oversold",
        "UPDATE product_variants SET inventory_quantity = -1 WHERE id = %(variant)s",
    ),
    (
        "product_attributes_name_not_blank",
        "UPDATE product_attributes SET name = '' WHERE id = %(attribute)s",
    ),
    (
        "product_attributes_type_valid",
        "UPDATE product_attributes SET type = 'color' WHERE id = %(attribute)s",
    ),
    (
        "product_attributes_value_typed",
        "UPDATE product_attributes SET value = 'thirty' WHERE id = %(attribute)s",
    ),
    ("orders_status_valid", "UPDATE orders SET status = 'lost' WHERE id = %(order)s"),
    (
        "orders_subtotal_nonnegative",
        "UPDATE orders SET subtotal = -1, total_amount = 0 WHERE id = %(order)s",
    ),
    ("orders_tax_amount_nonnegative", "UPDATE orders SET tax_amount = -1 WHERE id = %(order)s"),
    (
        "orders_shipping_amount_nonnegative",
        "UPDATE orders SET shipping_amount = -1 WHERE id = %(order)s",
    ),
    (
        "orders_discount_amount_nonnegative",
        "UPDATE orders SET discount_amount = -1 WHERE id = %(order)s",
    ),
    (
        "orders_total_amount_nonnegative",
        "UPDATE orders SET discount_amount = 235.99, total_amount = -1 WHERE id = %(order)s",
    ),
    ("orders_currency_iso", "UPDATE orders SET currency = 'eur' WHERE id = %(order)s"),
    ("orders_payment_status_valid", "UPDATE orders SET payment_status = 'x' WHERE id = %(order)s"),
    (
        "orders_shipping_status_valid",
        "UPDATE orders SET shipping_status = 'x' WHERE id = %(order)s",
    ),
    (
        "orders_billing_address_object",
        "UPDATE orders SET billing_address = '[]' WHERE id = %(order)s",
    ),
    (
        "orders_shipping_address_object",
        "UPDATE orders SET shipping_address = 'null' WHERE id = %(order)s",
    ),
    ("orders_total_adds_up", "UPDATE orders SET total_amount = 1 WHERE id = %(order)s"),
    (
        "orders_delivered_after_shipped",
        "UPDATE orders SET delivered_at = shipped_at - interval '1 day' WHERE id = %(order)s",
    ),
    (
        "orders_have_items",
        "DELETE FROM order_items WHERE order_id = %(order)s; SET CONSTRAINTS ALL IMMEDIATE",
    ),
    (
        "orders_subtotal_matches_items",
        "UPDATE orders SET subtotal = subtotal + 1, total_amount = total_amount + 1"
        " WHERE id = %(order)s; SET CONSTRAINTS ALL IMMEDIATE",
    ),
    (
        "order_items_quantity_positive",
        "UPDATE order_items SET quantity = 0, total_price = 0 WHERE id = %(item)s",
    ),
    (
        "order_items_unit_price_nonnegative",
        "UPDATE order_items SET unit_price = -1, total_price = -1 WHERE id = %(item)s",
    ),
    (
        "order_items_total_is_quantity_times_price",
        "UPDATE order_items SET quantity = 2 WHERE id = %(item)s",
    ),
    (
        "payments_amount_nonnegative",
        "UPDATE payments SET amount = -1, refunded_amount = 0 WHERE id = %(payment)s",
    ),
    (
        "payments_refunded_within_amount",
        "UPDATE payments SET refunded_amount = amount + 1 WHERE id = %(payment)s",
    ),
    ("payments_currency_iso", "UPDATE payments SET currency = '12' WHERE id = %(payment)s"),
    ("payments_status_valid", "UPDATE payments SET status = 'x' WHERE id = %(payment)s"),
    (
        "payments_pending_expires",
        "UPDATE payments SET status = 'pending', expires_at = NULL WHERE id = %(payment)s",
    ),
    ("refunds_amount_positive", "UPDATE refunds SET amount = 0 WHERE id = %(refund)s"),
    ("refunds_currency_iso", "UPDATE refunds SET currency = 'usd' WHERE id = %(refund)s"),
    (
        "refunds_status_valid",
        "UPDATE refunds SET status = 'x', settled_at = NULL WHERE id = %(refund)s",
    ),
    ("refunds_settled_when", "UPDATE refunds SET settled_at = NULL WHERE id = %(refund)s"),
    (
        "order_events_status_changes",
        "UPDATE order_events SET from_status = to_status WHERE id = %(order_event)s",
    ),
    ("reviews_rating_range", "UPDATE reviews SET rating = 6 WHERE id = %(review)s"),
    ("reviews_verified_has_order", "UPDATE reviews SET order_id = NULL WHERE id = %(review)s"),
    (
        "inventory_transactions_type_valid",
        "UPDATE inventory_transactions SET type = 'x' WHERE id = %(inventory)s",
    ),
    (
        "inventory_transactions_quantity_nonzero",
        "UPDATE inventory_transactions SET type = 'adjustment', quantity = 0 WHERE id = %(inventory)s",
    ),
    (
        "inventory_transactions_direction",
        "UPDATE inventory_transactions SET quantity = -5 WHERE id = %(inventory)s",
    ),
    ("content_pages_title_not_blank", "UPDATE content_pages SET title = '' WHERE id = %(page)s"),
    ("content_pages_status_valid", "UPDATE content_pages SET status = 'x' WHERE id = %(page)s"),
    (
        "content_pages_page_type_valid",
        "UPDATE content_pages SET page_type = 'x' WHERE id = %(page)s",
    ),
    (
        "content_pages_published_has_date",
        "UPDATE content_pages SET status = 'published' WHERE id = %(page)s",
    ),
    (
        "analytics_events_properties_object",
        "UPDATE analytics_events SET properties = '[]' WHERE id = %(event)s",
    ),
    (
        "analytics_rollups_subject_kind_valid",
        "UPDATE analytics_rollups SET subject_kind = 'brand' WHERE tenant_id = %(tenant)s",
    ),
    (
        "analytics_rollups_events_positive",
        "UPDATE analytics_rollups SET events = 0 WHERE tenant_id = %(tenant)s",
    ),
    (
        "analytics_daily_products_views_valid",
        "UPDATE analytics_daily_products SET views = -1 WHERE tenant_id = %(tenant)s",
    ),
    (
        "analytics_daily_products_purchases_valid",
        "UPDATE analytics_daily_products SET purchases = -1 WHERE tenant_id = %(tenant)s",
    ),
    ("outbox_payload_object", "UPDATE outbox SET payload = '1' WHERE tenant_id = %(tenant)s"),
    (
        "idempotency_keys_key_not_blank",
        "UPDATE idempotency_keys SET key = ' ' WHERE tenant_id = %(tenant)s",
    ),
    (
        "idempotency_keys_expiry_after_creation",
        "UPDATE idempotency_keys SET expires_at = created_at WHERE tenant_id = %(tenant)s",
    ),
    (
        "documents_collection_valid",
        "UPDATE documents SET collection = 'Products!' WHERE tenant_id = %(tenant)s",
    ),
    ("documents_body_object", "UPDATE documents SET body = '[]' WHERE tenant_id = %(tenant)s"),
    (
        "sync_parked_attempts_positive",
        "INSERT INTO sync_parked (projector, event_id, tenant_id, event_type, error, attempts)"
        " VALUES ('documents', 1, %(tenant)s, 'x', 'boom', 0)",
    ),
]

# Each duplicates one existing row's unique value with otherwise fresh keys.
UNIQUE_CASES: list[tuple[str, str]] = [
    ("tenants_slug_key", "INSERT INTO tenants (slug, name) VALUES ('alpha', 'Copy')"),
    (
        "tenant_domains_hostname_key",
        "INSERT INTO tenant_domains (tenant_id, hostname) VALUES (%(beta)s, 'alpha.shop.test')",
    ),
    (
        "vendors_slug_key",
        "INSERT INTO vendors (tenant_id, name, slug) VALUES (%(tenant)s, 'V', 'vendor')",
    ),
    (
        "brands_slug_key",
        "INSERT INTO brands (tenant_id, name, slug) VALUES (%(tenant)s, 'B', 'brand')",
    ),
    (
        "users_email_key",
        "INSERT INTO users (tenant_id, email, password_hash, first_name, last_name)"
        " VALUES (%(tenant)s, 'ANN@Alpha.test', 'x', 'A', 'L')",
    ),
    (
        "user_addresses_one_default_key",
        "INSERT INTO user_addresses (tenant_id, user_id, type, street_address, city, postal_code,"
        " country, is_default) VALUES (%(tenant)s, %(customer)s, 'shipping', 's', 'c', 'p', 'US', true)",
    ),
    (
        "categories_slug_key",
        "INSERT INTO categories (tenant_id, name, slug) VALUES (%(tenant)s, 'X', 'audio')",
    ),
    (
        "products_slug_key",
        "INSERT INTO products (tenant_id, name, slug, sku, price, category_id, vendor_id)"
        " VALUES (%(tenant)s, 'X', 'headphones', 'NEW', 1, %(category)s, %(vendor)s)",
    ),
    (
        "products_sku_key",
        "INSERT INTO products (tenant_id, name, slug, sku, price, category_id, vendor_id)"
        " VALUES (%(tenant)s, 'X', 'new', 'HP-1', 1, %(category)s, %(vendor)s)",
    ),
    (
        "product_variants_sku_key",
        "INSERT INTO product_variants (tenant_id, product_id, title, sku, price)"
        " VALUES (%(tenant)s, %(product_with_variants)s, 'X', 'SH-1-BLK', 1)",
    ),
    (
        "product_attributes_name_key",
        "INSERT INTO product_attributes (tenant_id, product_id, name, value)"
        " VALUES (%(tenant)s, %(product)s, 'battery_hours', '1')",
    ),
    (
        "product_images_one_primary_key",
        "INSERT INTO product_images (tenant_id, product_id, url, is_primary)"
        " VALUES (%(tenant)s, %(product)s, 'https://img.test/2.jpg', true)",
    ),
    (
        "orders_order_number_key",
        "INSERT INTO orders (tenant_id, order_number, user_id, subtotal, total_amount,"
        " billing_address, shipping_address) VALUES (%(tenant)s, '1001', %(customer)s, 0, 0, '{}', '{}')",
    ),
    (
        "payments_gateway_transaction_key",
        "INSERT INTO payments (tenant_id, order_id, payment_method, payment_gateway,"
        " gateway_transaction_id, amount, status)"
        " VALUES (%(tenant)s, %(order)s, 'card', 'test', 'txn-alpha', 1, 'completed')",
    ),
    # A second review of the same product without an order: NULLs must not be distinct.
    (
        "reviews_one_per_order_key",
        "INSERT INTO reviews (tenant_id, product_id, user_id, rating) VALUES"
        " (%(tenant)s, %(product)s, %(customer)s, 4), (%(tenant)s, %(product)s, %(customer)s, 3)",
    ),
    (
        "content_pages_slug_key",
        "INSERT INTO content_pages (tenant_id, title, slug, content)"
        " VALUES (%(tenant)s, 'T', 'about', 'c')",
    ),
    (
        "outbox_id_key",
        "INSERT INTO outbox (tenant_id, id, aggregate_type, aggregate_id, event_type,"
        " payload) OVERRIDING SYSTEM VALUE SELECT %(beta)s, id, 'x', 'x', 'x', '{}' FROM outbox LIMIT 1",
    ),
]


def _params(graphs: tuple[Graph, Graph]) -> dict[str, Any]:
    alpha, beta = graphs
    return {"tenant": alpha.tenant_id, "beta": beta.tenant_id, **alpha.ids}


def _violated(admin: psycopg.Connection[Any], statement: str, params: dict[str, Any]) -> str | None:
    """Run `statement` in a transaction that is always rolled back; the constraint it broke."""
    try:
        with admin.transaction(force_rollback=True):
            for part in statement.split("; "):
                admin.execute(part, params if "%(" in part else None)
    except psycopg.errors.IntegrityError as exc:
        return exc.diag.constraint_name
    return None


@pytest.mark.parametrize(
    ("constraint", "statement"),
    CHECK_CASES + UNIQUE_CASES,
    ids=[c for c, _ in CHECK_CASES + UNIQUE_CASES],
)
def test_bad_row_is_rejected_by_its_constraint(
    admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph], constraint: str, statement: str
) -> None:
    assert _violated(admin, statement, _params(graphs)) == constraint


def _primary_keys(admin: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return admin.execute(
        """
        SELECT con.conname, cl.relname FROM pg_constraint con
          JOIN pg_class cl ON cl.oid = con.conrelid
         WHERE con.contype = 'p' AND con.connamespace = 'public'::regnamespace
           AND con.conparentid = 0 AND cl.relname <> 'alembic_version'
         ORDER BY 1
        """
    ).fetchall()


def test_every_primary_key_rejects_a_duplicate_row(
    admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph]
) -> None:
    primary_keys = _primary_keys(admin)
    assert len(primary_keys) >= 20
    for constraint, table in primary_keys:
        columns = ", ".join(insertable_columns(admin, table))
        statement = (
            f"INSERT INTO {table} ({columns}) OVERRIDING SYSTEM VALUE"
            f" SELECT {columns} FROM {table} LIMIT 1"
        )
        violated = _violated(admin, statement, {})
        # A partitioned table reports the index of the partition the row went to.
        in_partition = re.compile(rf"^{table}_(\d{{4}}_\d{{2}}|default)_pkey$")
        assert violated is not None, table
        assert violated == constraint or in_partition.match(violated), (table, violated)


def test_every_constraint_has_a_case(admin: psycopg.Connection[Any]) -> None:
    declared = {
        row[0]
        for row in admin.execute(
            """
            SELECT conname FROM pg_constraint
             WHERE connamespace = 'public'::regnamespace AND contype IN ('c', 'u', 'x')
               AND conparentid = 0
            UNION
            SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
              JOIN pg_class t ON t.oid = x.indrelid
             WHERE x.indisunique AND NOT x.indisprimary AND t.relnamespace = 'public'::regnamespace
               AND NOT t.relispartition
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            """
        )
    }
    # Rules that triggers enforce name themselves with RAISE ... USING CONSTRAINT.
    for (source,) in admin.execute(
        "SELECT prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace"
    ):
        declared.update(re.findall(r"CONSTRAINT = '([a-z_]+)'", source))
    covered = {name for name, _ in CHECK_CASES + UNIQUE_CASES}
    assert declared - covered == set()
    assert covered - declared == set()


def _fk_row(admin: psycopg.Connection[Any], table: str, columns: list[str], tenant: Any) -> Any:
    condition = " AND ".join(f"{c} IS NOT NULL" for c in columns)
    row = admin.execute(
        f"SELECT ctid FROM {table} WHERE tenant_id = %s AND {condition} LIMIT 1", (tenant,)
    ).fetchone()
    assert row is not None, f"the graph has no {table} row with {columns} filled"
    return row[0]


def test_every_foreign_key_rejects_a_missing_parent(
    admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph], catalog: dict[str, list[Any]]
) -> None:
    alpha, _ = graphs
    for name, table, _parent, columns, _ in catalog["foreign_keys"]:
        ctid = _fk_row(admin, table, columns, alpha.tenant_id)
        target = [c for c in columns if c != "tenant_id"] or ["tenant_id"]
        assignments = ", ".join(f"{c} = gen_random_uuid()" for c in target)
        statement = f"UPDATE {table} SET {assignments} WHERE ctid = '{ctid}'"
        try:
            with admin.transaction(force_rollback=True):
                admin.execute(statement)
        except psycopg.errors.ForeignKeyViolation as exc:
            if target != ["tenant_id"]:
                # Moving a row to an unknown tenant breaks every composite key at once.
                assert exc.diag.constraint_name == name
        else:
            pytest.fail(f"{name}: {table} accepted a reference to a missing row")


def test_no_row_can_reference_a_row_of_another_tenant(
    admin: psycopg.Connection[Any], graphs: tuple[Graph, Graph], catalog: dict[str, list[Any]]
) -> None:
    alpha, beta = graphs
    checked = 0
    for name, table, parent, columns, parent_columns in catalog["foreign_keys"]:
        if columns == ["tenant_id"]:
            continue
        ctid = _fk_row(admin, table, columns, alpha.tenant_id)
        # A real parent row, but one that belongs to the other tenant.
        picked = ", ".join(parent_columns)
        other = admin.execute(
            f"SELECT {picked} FROM {parent} WHERE tenant_id = %s LIMIT 1", (beta.tenant_id,)
        ).fetchone()
        assert other is not None
        assignments = ", ".join(f"{column} = %s" for column in columns if column != "tenant_id")
        values = [
            v for column, v in zip(parent_columns, other, strict=True) if column != "tenant_id"
        ]
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as caught:
            with admin.transaction(force_rollback=True):
                admin.execute(f"UPDATE {table} SET {assignments} WHERE ctid = '{ctid}'", values)
        assert caught.value.diag.constraint_name == name
        checked += 1
    assert checked >= 25


def test_every_foreign_key_is_indexed(admin: psycopg.Connection[Any]) -> None:
    """PostgreSQL does not index foreign keys by itself (seed-review #4); every one of ours is."""
    unindexed = admin.execute(
        """
        SELECT con.conname FROM pg_constraint con
         WHERE con.contype = 'f' AND con.connamespace = 'public'::regnamespace
           AND con.conparentid = 0
           AND NOT EXISTS (
               SELECT 1 FROM pg_index i
                WHERE i.indrelid = con.conrelid
                  AND (i.indpred IS NULL
                       OR pg_get_expr(i.indpred, i.indrelid) ~ 'IS NOT NULL')
                  AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1]::int2[] @> con.conkey
                  AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1]::int2[] <@ con.conkey)
        """
    ).fetchall()
    assert unindexed == []
