"""The documents of `sync/documents.py`, built by PostgreSQL itself, for `sync rebuild`.

The relay builds a batch's documents in Python (`BUILDERS`): a few hundred at a time, that is
the right tool. A rebuild builds every document of a shop, two million at a million orders, and
the Python builders (rows to dicts, dicts to JSON, JSON back to the server) managed about 2,700
documents a second on this machine. These statements build the same documents in the server
(`jsonb_build_object`, `jsonb_agg`), a keyset chunk of ids at a time, in the encoded form the
stores keep (`codec.encode` of `canonical`): Decimal as {"$numberDecimal": text}, times as
{"$date": ISO 8601 in UTC, milliseconds}, ids as text.

They are a second implementation of the same shapes on purpose: `sync verify documents`
compares what a rebuild stored with what the Python builders make now, so a difference between
the two is drift that verify reports (tests/integration/sync/test_document_sql.py checks they
agree document for document).

Each statement takes `%(ids)s` (a chunk of the collection's ids), runs under the tenant of its
transaction (row-level security), and yields `(id text, body jsonb)` ordered by id; an id
whose document does not exist (an order whose customer is gone) yields no row.
"""

from __future__ import annotations


def _decimal(expr: str) -> str:
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL"
        f" ELSE jsonb_build_object('$numberDecimal', {expr}::text) END"
    )


def _time(expr: str) -> str:
    """Python's `isoformat()` of the time in UTC cut to milliseconds: no fraction when it is
    zero, six digits otherwise, then +00:00."""
    cut = f"(date_trunc('milliseconds', {expr}) AT TIME ZONE 'UTC')"
    fraction = f"(extract(microseconds FROM {cut})::bigint %% 1000000)"
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL ELSE jsonb_build_object('$date',"
        f" to_char({cut}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN {fraction} = 0 THEN '' ELSE '.' || lpad({fraction}::text, 6, '0') END"
        f" || '+00:00') END"
    )


_CHUNK_IDS = "SELECT unnest(%(ids)s::uuid[]) AS id"

PRODUCTS = f"""
WITH RECURSIVE path(start, name, parent_id, depth) AS (
    SELECT id, name, parent_id, 0 FROM categories
    UNION ALL
    SELECT p.start, c.name, c.parent_id, p.depth + 1
      FROM categories c JOIN path p ON c.id = p.parent_id
), paths AS (
    SELECT start, jsonb_agg(name ORDER BY depth DESC) AS names FROM path GROUP BY start
), ids AS ({_CHUNK_IDS})
SELECT p.id::text, jsonb_build_object(
    '_id', p.id::text,
    'tenant_id', p.tenant_id::text,
    'name', p.name,
    'slug', p.slug,
    'description', p.description,
    'shortDescription', p.short_description,
    'sku', p.sku,
    'pricing', jsonb_build_object(
        'price', {_decimal("p.price")}, 'comparePrice', {_decimal("p.compare_price")},
        'costPrice', {_decimal("p.cost_price")}, 'currency', t.currency),
    'inventory', jsonb_build_object(
        'tracking', p.inventory_tracking, 'quantity', p.inventory_quantity,
        'policy', p.inventory_policy, 'lowStockThreshold', p.low_stock_threshold),
    'physical', jsonb_build_object('weight', {_decimal("p.weight")}, 'dimensions', p.dimensions),
    'category', jsonb_build_object(
        'id', p.category_id::text, 'name', c.name, 'path', coalesce(paths.names, '[]')),
    'brand', CASE WHEN p.brand_id IS NULL THEN NULL
                  ELSE jsonb_build_object('id', p.brand_id::text, 'name', b.name) END,
    'vendor', jsonb_build_object(
        'id', p.vendor_id::text, 'name', v.name, 'contact', v.contact_email),
    'variants', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'id', x.id::text, 'title', x.title, 'sku', x.sku,
                   'price', {_decimal("x.price")}, 'inventory', x.inventory_quantity,
                   'attributes', x.options) ORDER BY x.position, x.sku)
          FROM product_variants x WHERE x.tenant_id = p.tenant_id AND x.product_id = p.id
    ), '[]'),
    'attributes', coalesce((
        SELECT jsonb_agg(jsonb_build_object('name', a.name, 'value', a.value, 'type', a.type)
                         ORDER BY a.name)
          FROM product_attributes a WHERE a.tenant_id = p.tenant_id AND a.product_id = p.id
    ), '[]'),
    'images', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'url', i.url, 'alt', i.alt_text, 'position', i.position,
                   'isPrimary', i.is_primary) ORDER BY i.position)
          FROM product_images i WHERE i.tenant_id = p.tenant_id AND i.product_id = p.id
    ), '[]'),
    'seo', jsonb_build_object('title', p.seo_title, 'description', p.seo_description),
    'status', p.status,
    'requiresShipping', p.requires_shipping,
    'taxable', p.taxable,
    'metadata', jsonb_build_object(
        'createdAt', {_time("p.created_at")}, 'updatedAt', {_time("p.updated_at")})
)
  FROM ids JOIN products p ON p.id = ids.id
  JOIN categories c ON c.tenant_id = p.tenant_id AND c.id = p.category_id
  JOIN vendors v ON v.tenant_id = p.tenant_id AND v.id = p.vendor_id
  LEFT JOIN brands b ON b.tenant_id = p.tenant_id AND b.id = p.brand_id
  JOIN tenants t ON t.id = p.tenant_id
  LEFT JOIN paths ON paths.start = p.category_id
 ORDER BY p.id
"""

USERS = f"""
WITH ids AS ({_CHUNK_IDS})
SELECT u.id::text, jsonb_build_object(
    '_id', u.id::text,
    'tenant_id', u.tenant_id::text,
    'email', u.email,
    'profile', jsonb_build_object(
        'firstName', u.first_name, 'lastName', u.last_name, 'avatar', pr.avatar_url,
        'bio', pr.bio, 'preferences', coalesce(pr.preferences, '{{}}'),
        'addresses', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'type', a.type, 'street', a.street_address, 'city', a.city,
                       'state', a.state, 'postalCode', a.postal_code, 'country', a.country,
                       'isDefault', a.is_default) ORDER BY a.created_at, a.id)
              FROM user_addresses a WHERE a.tenant_id = u.tenant_id AND a.user_id = u.id
        ), '[]')),
    'authentication', jsonb_build_object(
        'emailVerified', u.email_verified, 'lastLogin', {_time("u.last_login_at")},
        'loginAttempts', u.failed_login_attempts),
    'metadata', jsonb_build_object(
        'createdAt', {_time("u.created_at")}, 'updatedAt', {_time("u.updated_at")},
        'isActive', u.is_active)
)
  FROM ids JOIN users u ON u.id = ids.id
  LEFT JOIN user_profiles pr ON pr.tenant_id = u.tenant_id AND pr.user_id = u.id
 ORDER BY u.id
"""

ORDERS = f"""
WITH ids AS ({_CHUNK_IDS})
SELECT o.id::text, jsonb_build_object(
    '_id', o.id::text,
    'tenant_id', o.tenant_id::text,
    'orderNumber', o.order_number,
    'user', jsonb_build_object(
        'id', o.user_id::text, 'email', u.email, 'name', u.first_name || ' ' || u.last_name),
    'status', o.status,
    'paymentStatus', o.payment_status,
    'shippingStatus', o.shipping_status,
    'pricing', jsonb_build_object(
        'subtotal', {_decimal("o.subtotal")}, 'taxAmount', {_decimal("o.tax_amount")},
        'shippingAmount', {_decimal("o.shipping_amount")},
        'discountAmount', {_decimal("o.discount_amount")},
        'totalAmount', {_decimal("o.total_amount")}, 'currency', o.currency),
    'items', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'productId', i.product_id::text, 'variantId', i.variant_id::text,
                   'name', i.name, 'sku', i.sku, 'quantity', i.quantity,
                   'unitPrice', {_decimal("i.unit_price")},
                   'totalPrice', {_decimal("i.total_price")}, 'attributes', i.options)
                   ORDER BY i.sku, i.id)
          FROM order_items i WHERE i.tenant_id = o.tenant_id AND i.order_id = o.id
    ), '[]'),
    'addresses', jsonb_build_object('billing', o.billing_address, 'shipping', o.shipping_address),
    'payments', coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'id', y.id::text, 'method', y.payment_method, 'gateway', y.payment_gateway,
                   'transactionId', y.gateway_transaction_id, 'amount', {_decimal("y.amount")},
                   'refundedAmount', {_decimal("y.refunded_amount")}, 'status', y.status,
                   'processedAt', {_time("y.processed_at")}) ORDER BY y.created_at, y.id)
          FROM payments y WHERE y.tenant_id = o.tenant_id AND y.order_id = o.id
    ), '[]'),
    'shipping', jsonb_build_object(
        'method', o.shipping_method, 'trackingNumber', o.tracking_number,
        'carrier', o.shipping_carrier, 'estimatedDelivery', {_time("o.estimated_delivery")},
        'shippedAt', {_time("o.shipped_at")}, 'deliveredAt', {_time("o.delivered_at")}),
    'notes', o.notes,
    'metadata', jsonb_build_object(
        'createdAt', {_time("o.created_at")}, 'updatedAt', {_time("o.updated_at")})
)
  FROM ids JOIN orders o ON o.id = ids.id
  JOIN users u ON u.tenant_id = o.tenant_id AND u.id = o.user_id
 ORDER BY o.id
"""

SELECTS = {"products": PRODUCTS, "users": USERS, "orders": ORDERS}
