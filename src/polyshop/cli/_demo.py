"""The demo shop: a small catalog, a customer and a few orders, placed through the services."""

from __future__ import annotations

from rich.table import Table

from polyshop.bootstrap import Container
from polyshop.domain.catalog import ProductStatus
from polyshop.domain.tenancy import Tenant
from polyshop.services.catalog import ProductDraft, VariantDraft
from polyshop.services.checkout import CheckoutRequest, OrderLine

RULES = {
    "tax": {"default_rate": "0.08", "rates": {"DE": "0.19"}},
    "shipping": {
        "standard": {"price": "5.00", "free_over": "75.00"},
        "express": {"price": "15.00"},
    },
    "discounts": {"WELCOME10": {"type": "percent", "value": "10"}},
}
ADDRESS = {"firstName": "Ada", "lastName": "Lovelace", "street": "12 Analytical Row",
           "city": "London", "postalCode": "EC1A 1AA", "country": "GB"}  # fmt: skip


async def seed(app: Container, tenant: Tenant) -> None:
    t = tenant.id
    await app.tenants.configure(t, RULES)
    vendor = await app.catalog.create_vendor(t, "TechCorp", contact_email="vendor@techcorp.test")
    brand = await app.catalog.create_brand(t, "TechCorp")
    electronics = await app.catalog.create_category(t, "Electronics")
    audio = await app.catalog.create_category(t, "Audio", parent_id=electronics.id)
    apparel = await app.catalog.create_category(t, "Apparel")
    headphones = await app.catalog.create_product(
        t,
        ProductDraft(name="Wireless Headphones", sku="WH-001", price="199.99", compare_price="249.99",
                     category_id=audio.id, vendor_id=vendor, brand_id=brand, status=ProductStatus.ACTIVE,
                     short_description="Premium wireless headphones",
                     variants=(VariantDraft("Black", "WH-001-BLK", "199.99", {"color": "black"}, 50),
                               VariantDraft("White", "WH-001-WHT", "199.99", {"color": "white"}, 50)),
                     attributes=(("battery_hours", "30", "number"), ("bluetooth", "5.0", "text")),
                     images=(("https://images.polyshop.test/wh-001.jpg", "front view"),)),
    )  # fmt: skip
    speaker = await app.catalog.create_product(
        t,
        ProductDraft(name="Bookshelf Speaker", sku="SP-010", price="89.00", category_id=audio.id,
                     vendor_id=vendor, brand_id=brand, status=ProductStatus.ACTIVE, initial_stock=25),
    )  # fmt: skip
    tee = await app.catalog.create_product(
        t,
        ProductDraft(name="Logo T-Shirt", sku="TS-100", price="19.00", category_id=apparel.id,
                     vendor_id=vendor, status=ProductStatus.ACTIVE, initial_stock=100),
    )  # fmt: skip
    customer = await app.customers.register(
        t, "ada@example.test", "analytical engine 1843", "Ada", "Lovelace"
    )
    black = (await app.catalog.product(t, product_id=headphones))["variants"][0]["id"]
    for lines, code in (
        ((OrderLine(headphones, 1, black),), None),
        ((OrderLine(speaker, 2), OrderLine(tee, 3)), "WELCOME10"),
        ((OrderLine(tee, 1),), None),
    ):
        await app.checkout.place_order(
            t, CheckoutRequest(customer.id, lines, ADDRESS, discount_code=code)
        )


async def summary(app: Container, tenant: Tenant) -> Table:
    await app.relay.run_until_idle()
    async with app.database.unit_of_work(tenant.id) as uow:
        cursor = await uow.connection.execute("SELECT id FROM users ORDER BY created_at LIMIT 1")
        row = await cursor.fetchone()
    table = Table(title=f"{tenant.name}: orders (from the document store)", title_justify="left")
    for column in ("order", "status", "items", "total"):
        table.add_column(column, justify="right" if column != "status" else "left")
    if row is not None:
        for order in await app.document_reads.order_history(tenant.id, row[0]):
            items = sum(item["quantity"] for item in order["items"])
            total = f"{order['pricing']['totalAmount']} {order['pricing']['currency']}"
            table.add_row(order["orderNumber"], order["status"], str(items), total)
    return table
