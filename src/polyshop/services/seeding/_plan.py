"""What to generate (`SeedPlan`) and the shape rows travel in: a `Batch` per table, with the
columns COPY names for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

# Orders (or users, sessions) per transaction: bounded memory, and the deferred checks run at
# each commit instead of once for everything.
CHUNK = 2000

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class SeedPlan:
    shops: int = 3
    users: int = 1000
    products: int = 200
    orders: int = 2000
    events: int = 10_000
    seed: int = 1
    months: int = 12
    until: date = field(default_factory=lambda: datetime.now(UTC).date())

    def share(self, total: int, shop: int) -> int:
        """Shop `shop`'s part of `total` (the first shops take the remainder)."""
        base, rest = divmod(total, self.shops)
        return base + (1 if shop < rest else 0)


@dataclass(slots=True)
class Batch:
    table: str
    columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)


COLUMNS: dict[str, tuple[str, ...]] = {
    "tenants": ("id", "slug", "name", "currency", "settings", "created_at", "updated_at"),
    "vendors": ("tenant_id", "id", "name", "slug", "contact_email", "created_at", "updated_at"),
    "brands": ("tenant_id", "id", "name", "slug", "description", "logo_url", "created_at",
               "updated_at"),
    "categories": ("tenant_id", "id", "name", "slug", "description", "parent_id", "sort_order",
                   "created_at", "updated_at"),
    "products": ("tenant_id", "id", "name", "slug", "description", "short_description", "sku",
                 "price", "compare_price", "cost_price", "weight", "dimensions", "category_id",
                 "brand_id", "vendor_id", "status", "low_stock_threshold", "seo_title",
                 "seo_description", "created_at", "updated_at"),
    "product_variants": ("tenant_id", "id", "product_id", "title", "sku", "price",
                         "cost_price", "options", "position", "created_at", "updated_at"),
    "product_attributes": ("tenant_id", "id", "product_id", "name", "value", "type",
                           "created_at", "updated_at"),
    "product_images": ("tenant_id", "id", "product_id", "url", "alt_text", "position",
                       "is_primary", "created_at"),
    "users": ("tenant_id", "id", "email", "password_hash", "first_name", "last_name", "phone",
              "date_of_birth", "role", "email_verified", "created_at", "updated_at"),
    "user_profiles": ("tenant_id", "user_id", "preferences", "timezone", "language",
                      "created_at", "updated_at"),
    "user_addresses": ("tenant_id", "id", "user_id", "type", "first_name", "last_name",
                       "street_address", "city", "postal_code", "country", "is_default",
                       "created_at", "updated_at"),
    "orders": ("tenant_id", "id", "order_number", "user_id", "status", "subtotal", "tax_amount",
               "shipping_amount", "discount_amount", "total_amount", "currency",
               "payment_status", "shipping_status", "billing_address", "shipping_address",
               "shipping_method", "shipping_carrier", "tracking_number", "created_at",
               "updated_at", "shipped_at", "delivered_at"),
    "order_items": ("tenant_id", "id", "order_id", "product_id", "variant_id", "name", "sku",
                    "options", "quantity", "unit_price", "total_price", "created_at"),
    "payments": ("tenant_id", "id", "order_id", "payment_method", "payment_gateway",
                 "gateway_transaction_id", "amount", "refunded_amount", "currency", "status",
                 "processed_at", "created_at", "updated_at"),
    "refunds": ("tenant_id", "id", "order_id", "payment_id", "amount", "currency", "status",
                "reason", "order_target", "expires_at", "created_at", "settled_at",
                "updated_at"),
    "order_events": ("tenant_id", "id", "order_id", "from_status", "to_status", "note",
                     "actor_user_id", "created_at"),
    "inventory_transactions": ("tenant_id", "id", "product_id", "variant_id", "type",
                               "quantity", "reason", "reference_id", "created_at"),
    "reviews": ("tenant_id", "id", "product_id", "user_id", "order_id", "rating", "title",
                "content", "is_verified_purchase", "is_approved", "created_at", "updated_at"),
    "review_votes": ("tenant_id", "review_id", "user_id", "created_at"),
    "outbox": ("tenant_id", "aggregate_type", "aggregate_id", "event_type", "payload",
               "created_at"),
}  # fmt: skip

# The order tables go in this order (foreign keys), in one transaction per chunk.
ORDER_TABLES = ("orders", "order_items", "payments", "refunds", "order_events",
                "inventory_transactions", "reviews", "review_votes", "outbox")  # fmt: skip


def empty_batches(*tables: str) -> dict[str, Batch]:
    """An empty batch per table, in the order given: the order they are loaded in."""
    return {table: Batch(table, COLUMNS[table]) for table in tables}
