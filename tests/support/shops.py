"""Builders of a shop on the services (its own tenant, rules, catalog and customer, on real
PostgreSQL), and the stock/ledger check, for any test that needs them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from polyshop import bootstrap
from polyshop.services.catalog import ProductDraft, VariantDraft
from polyshop.services.checkout import CheckoutRequest, OrderLine

RULES = {
    "tax": {"default_rate": "0.10", "rates": {"DE": "0.19"}, "shipping_taxable": False},
    "shipping": {
        "standard": {"price": "5.00", "free_over": "100.00"},
        "express": {"price": "15.00"},
    },
    "discounts": {
        "WELCOME10": {"type": "percent", "value": "10"},
        "FIVEOFF": {"type": "fixed", "value": "5.00", "min_subtotal": "20.00"},
    },
}
ADDRESS = {"firstName": "Ann", "lastName": "Lee", "street": "1 Main St", "city": "Springfield",
           "postalCode": "12345", "country": "US"}  # fmt: skip


@dataclass
class Shop:
    app: bootstrap.Container
    tenant_id: UUID
    vendor_id: UUID
    brand_id: UUID
    root_category: UUID
    category: UUID
    customer_id: UUID
    products: dict[str, UUID] = field(default_factory=dict)
    variants: dict[str, UUID] = field(default_factory=dict)

    def request(self, *lines: OrderLine, **overrides: object) -> CheckoutRequest:
        values: dict[str, object] = {
            "customer_id": self.customer_id,
            "lines": lines,
            "shipping_address": ADDRESS,
        }
        values.update(overrides)
        return CheckoutRequest(**values)  # type: ignore[arg-type]

    def line(self, name: str, quantity: int = 1) -> OrderLine:
        if name in self.variants:
            return OrderLine(self.products[name.split(":")[0]], quantity, self.variants[name])
        return OrderLine(self.products[name], quantity)


_customer_password = "correct horse battery staple"


async def make_shop(app: bootstrap.Container, *, stock: int = 10) -> Shop:
    tenant = await app.tenants.create(f"shop-{uuid.uuid4().hex[:12]}", "Test Shop")
    await app.tenants.configure(tenant.id, RULES)
    t = tenant.id
    vendor = await app.catalog.create_vendor(t, "Acme Supplies")
    brand = await app.catalog.create_brand(t, "Acme")
    root = await app.catalog.create_category(t, "Electronics")
    audio = await app.catalog.create_category(t, "Audio", parent_id=root.id)
    customer = await app.customers.register(t, "ann@example.com", _customer_password, "Ann", "Lee")
    shop = Shop(app, t, vendor, brand, root.id, audio.id, customer.id)
    for name, price, extra in (
        ("headphones", "50.00", {}),
        ("speaker", "30.00", {}),
        ("cable", "4.99", {"taxable": False}),
        ("ebook", "9.99", {"requires_shipping": False, "inventory_tracking": False}),
        ("preorder", "20.00", {"inventory_policy": "continue"}),
    ):
        shop.products[name] = await app.catalog.create_product(
            t,
            ProductDraft(name=name.title(), sku=name.upper(), price=price, category_id=audio.id,
                         vendor_id=vendor, brand_id=brand, status="active", initial_stock=stock,
                         **extra),  # type: ignore[arg-type]
        )  # fmt: skip
    shop.products["shirt"] = await app.catalog.create_product(
        t,
        ProductDraft(
            name="Shirt", sku="SHIRT", price="20.00", category_id=root.id, vendor_id=vendor,
            status="active",
            variants=(VariantDraft("Black", "SHIRT-BLK", "20.00", {"color": "black"}, stock),
                      VariantDraft("White", "SHIRT-WHT", "22.00", {"color": "white"}, stock)),
        ),
    )  # fmt: skip
    product = await app.catalog.product(t, product_id=shop.products["shirt"])
    for variant in product["variants"]:
        shop.variants[f"shirt:{variant['options']['color']}"] = variant["id"]
    return shop


async def stock_and_ledger(app: bootstrap.Container, tenant_id: UUID) -> list[tuple[str, int, int]]:
    """(sku, stock, ledger sum) for every stock item of the tenant."""
    async with app.database.unit_of_work(tenant_id) as uow:
        cursor = await uow.connection.execute(
            """
            SELECT p.sku, p.inventory_quantity, coalesce(sum(t.quantity), 0)::int
              FROM products p LEFT JOIN inventory_transactions t
                ON t.tenant_id = p.tenant_id AND t.product_id = p.id AND t.variant_id IS NULL
             GROUP BY p.sku, p.inventory_quantity
            UNION ALL
            SELECT v.sku, v.inventory_quantity, coalesce(sum(t.quantity), 0)::int
              FROM product_variants v LEFT JOIN inventory_transactions t
                ON t.tenant_id = v.tenant_id AND t.variant_id = v.id
             GROUP BY v.sku, v.inventory_quantity
            ORDER BY 1
            """
        )
        return [(str(sku), int(stock), int(total)) for sku, stock, total in await cursor.fetchall()]


async def assert_stock_matches_ledger(app: bootstrap.Container, tenant_id: UUID) -> None:
    rows = await stock_and_ledger(app, tenant_id)
    assert rows
    assert [r for r in rows if r[1] != r[2]] == []


__all__ = [
    "ADDRESS",
    "RULES",
    "Decimal",
    "Shop",
    "assert_stock_matches_ledger",
    "make_shop",
    "stock_and_ledger",
]
