"""Checkout on real PostgreSQL: server-side pricing, stock policies, payments, idempotency,
and concurrent checkouts that race for the last units."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest

from polyshop import bootstrap
from polyshop.adapters.payments import DECLINING_METHOD, FAILING_METHOD, TestPaymentGateway
from polyshop.adapters.postgres import Database
from polyshop.domain.catalog import ProductStatus
from polyshop.domain.errors import (
    ConflictError,
    InsufficientStockError,
    NotFoundError,
    PaymentDeclinedError,
    PaymentFailedError,
    ValidationError,
)
from polyshop.services.checkout import CheckoutService, OrderLine
from tests.support.shops import (
    Shop,
    assert_stock_matches_ledger,
    make_shop,
)


async def _count(app: bootstrap.Container, tenant_id: UUID, sql: str, *params: Any) -> int:
    async with app.database.unit_of_work(tenant_id) as uow:
        cursor = await uow.connection.execute(sql, params)
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def _events(app: bootstrap.Container, tenant_id: UUID) -> int:
    """The shop's outbox events, counted as the owner: the application may not read them."""
    assert app.urls.postgres_admin is not None
    with psycopg.connect(app.urls.postgres_admin) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE tenant_id = %s", (tenant_id,))
        return int(row.fetchone()[0])  # type: ignore[index]


async def test_prices_tax_and_shipping_are_computed_on_the_server(shop: Shop) -> None:
    placed = await shop.app.checkout.place_order(
        shop.tenant_id, shop.request(shop.line("headphones", 2), shop.line("cable"))
    )
    # 100.00 taxable at 10% + 4.99 untaxed; shipping free over 100.
    assert (placed.subtotal, placed.tax, placed.shipping, placed.discount, placed.total) == (
        Decimal("104.99"), Decimal("10.00"), Decimal("0.00"), Decimal("0.00"), Decimal("114.99"),
    )  # fmt: skip
    assert (placed.status, placed.payment_status, placed.currency) == ("confirmed", "paid", "USD")
    order = await shop.app.orders.get(shop.tenant_id, placed.id)
    assert order["total_amount"] == Decimal("114.99")
    assert order["order_number"] == placed.order_number
    assert {(i["sku"], i["quantity"], i["unit_price"]) for i in order["items"]} == {
        ("HEADPHONES", 2, Decimal("50.00")), ("CABLE", 1, Decimal("4.99")),
    }  # fmt: skip
    assert [(p["amount"], p["status"]) for p in order["payments"]] == [
        (Decimal("114.99"), "completed")
    ]
    # Reserved first (awaiting payment), confirmed once the gateway approved.
    assert [(e["from_status"], e["to_status"]) for e in order["events"]] == [
        (None, "pending"), ("pending", "confirmed"),
    ]  # fmt: skip
    await assert_stock_matches_ledger(shop.app, shop.tenant_id)


async def test_discount_shipping_threshold_and_tax_interact(shop: Shop) -> None:
    placed = await shop.app.checkout.place_order(
        shop.tenant_id,
        shop.request(shop.line("headphones", 2), shop.line("cable"), discount_code="welcome10"),
    )
    # 10% of 104.99 = 10.50; 94.49 is under the free-shipping threshold; tax on the taxable
    # share of the discounted goods: (100 - 10.50 * 100 / 104.99) * 10% = 9.00.
    assert (placed.discount, placed.shipping, placed.tax, placed.total) == (
        Decimal("10.50"), Decimal("5.00"), Decimal("9.00"), Decimal("108.49"),
    )  # fmt: skip


async def test_country_rate_and_express_shipping(shop: Shop) -> None:
    address = {**shop.request().shipping_address, "country": "de"}
    placed = await shop.app.checkout.place_order(
        shop.tenant_id,
        shop.request(shop.line("speaker"), shipping_address=address, shipping_method="express"),
    )
    assert (placed.tax, placed.shipping, placed.total) == (
        Decimal("5.70"), Decimal("15.00"), Decimal("50.70"),
    )  # fmt: skip


async def test_a_digital_only_order_has_no_shipping(shop: Shop) -> None:
    placed = await shop.app.checkout.place_order(shop.tenant_id, shop.request(shop.line("ebook")))
    assert placed.shipping == Decimal("0.00")


async def test_the_current_price_is_charged(shop: Shop) -> None:
    await shop.app.catalog.update_product(shop.tenant_id, shop.products["speaker"], price="35.00")
    placed = await shop.app.checkout.place_order(shop.tenant_id, shop.request(shop.line("speaker")))
    assert placed.subtotal == Decimal("35.00")


async def test_variants_carry_their_own_price_and_stock(shop: Shop) -> None:
    placed = await shop.app.checkout.place_order(
        shop.tenant_id, shop.request(shop.line("shirt:white", 3))
    )
    assert placed.subtotal == Decimal("66.00")
    product = await shop.app.catalog.product(shop.tenant_id, product_id=shop.products["shirt"])
    assert {v["sku"]: v["inventory_quantity"] for v in product["variants"]} == {
        "SHIRT-BLK": 10, "SHIRT-WHT": 7,
    }  # fmt: skip
    assert product["inventory_quantity"] == 0
    await assert_stock_matches_ledger(shop.app, shop.tenant_id)


async def test_order_numbers_are_per_tenant_and_increasing(app: bootstrap.Container) -> None:
    first, second = await make_shop(app), await make_shop(app)
    numbers = []
    for shop in (first, first, second):
        placed = await app.checkout.place_order(shop.tenant_id, shop.request(shop.line("cable")))
        numbers.append(placed.order_number)
    assert numbers == ["1001", "1002", "1001"]


@pytest.mark.parametrize(
    ("lines", "overrides", "error", "message"),
    [
        ([], {}, ValidationError, "at least one line"),
        ([("headphones", 0)], {}, ValidationError, "quantity"),
        (
            [("headphones", 11)],
            {},
            InsufficientStockError,
            "HEADPHONES: 11 requested, 10 available",
        ),
        ([("shirt", 1)], {}, ValidationError, "choose a variant of Shirt"),
        ([("cable", 1)], {"discount_code": "NOPE"}, ValidationError, "unknown discount code"),
        ([("cable", 1)], {"discount_code": "FIVEOFF"}, ValidationError, "at least 20.00"),
        ([("cable", 1)], {"shipping_method": "drone"}, ValidationError, "unknown shipping method"),
        (
            [("cable", 1)],
            {"shipping_address": {"city": "x"}},
            ValidationError,
            "street, postalCode, country",
        ),
    ],
)
async def test_a_refused_checkout_writes_nothing(
    shop: Shop, lines: list[tuple[str, int]], overrides: dict[str, Any], error: type[Exception],
    message: str,
) -> None:  # fmt: skip
    before_events = _events(shop.app, shop.tenant_id)
    order_lines = [OrderLine(shop.products[n], q) for n, q in lines]
    with pytest.raises(error, match=message):
        await shop.app.checkout.place_order(shop.tenant_id, shop.request(*order_lines, **overrides))
    assert await _count(shop.app, shop.tenant_id, "SELECT count(*) FROM orders") == 0
    assert await _count(shop.app, shop.tenant_id, "SELECT count(*) FROM payments") == 0
    assert _events(shop.app, shop.tenant_id) == before_events
    await assert_stock_matches_ledger(shop.app, shop.tenant_id)


@pytest.mark.parametrize(
    ("method", "error", "message", "payment_status", "reason"),
    [
        (DECLINING_METHOD, PaymentDeclinedError, "declined", "declined", "payment declined"),
        (FAILING_METHOD, PaymentFailedError, "could not be processed", "failed", "payment failed"),
    ],
)
async def test_a_refused_payment_sells_nothing_and_keeps_the_attempt(
    shop: Shop, method: str, error: type[Exception], message: str, payment_status: str,
    reason: str,
) -> None:  # fmt: skip
    """The reservation was durable before the gateway was asked, so a refused payment leaves
    the attempt on record (cancelled, with its reason) and everything else as it was: the
    stock back, no confirmed order, no `order.placed`, no money."""
    stock_before = {sku: q for sku, q, _ in await _stock(shop)}
    with pytest.raises(error, match=message):
        await shop.app.checkout.place_order(
            shop.tenant_id, shop.request(shop.line("cable"), payment_method=method)
        )
    async with shop.app.database.unit_of_work(shop.tenant_id) as uow:
        cursor = await uow.connection.execute(
            "SELECT o.status, o.payment_status, p.status, p.gateway_transaction_id,"
            " (SELECT note FROM order_events e WHERE e.order_id = o.id AND e.to_status = 'cancelled')"
            " FROM orders o JOIN payments p ON p.order_id = o.id"
        )
        rows = await cursor.fetchall()
    assert rows == [("cancelled", "failed", payment_status, None, reason)]
    # The outbox is read as the owner (the application may not read it).
    assert shop.app.urls.postgres_admin is not None
    with psycopg.connect(shop.app.urls.postgres_admin) as conn:
        placed = conn.execute(
            "SELECT count(*) FROM outbox WHERE tenant_id = %s AND event_type = 'order.placed'",
            (shop.tenant_id,),
        ).fetchone()
    assert placed == (0,)
    assert {sku: q for sku, q, _ in await _stock(shop)} == stock_before
    await assert_stock_matches_ledger(shop.app, shop.tenant_id)


async def test_products_that_are_not_for_sale_or_unknown_are_refused(shop: Shop) -> None:
    await shop.app.catalog.change_status(
        shop.tenant_id, shop.products["speaker"], ProductStatus.INACTIVE
    )
    with pytest.raises(ValidationError, match="not for sale"):
        await shop.app.checkout.place_order(shop.tenant_id, shop.request(shop.line("speaker")))
    with pytest.raises(NotFoundError):
        await shop.app.checkout.place_order(shop.tenant_id, shop.request(OrderLine(UUID(int=7), 1)))
    other = await make_shop(shop.app)
    # Another shop's product is simply not there for this tenant.
    with pytest.raises(NotFoundError):
        await shop.app.checkout.place_order(
            shop.tenant_id, shop.request(OrderLine(other.products["cable"], 1))
        )


async def test_continue_policy_and_untracked_items_may_go_below_zero(shop: Shop) -> None:
    await shop.app.checkout.place_order(
        shop.tenant_id, shop.request(shop.line("preorder", 12), shop.line("ebook", 15))
    )
    rows = dict((sku, stock) for sku, stock, _ in await _stock(shop))
    assert rows["PREORDER"] == -2
    assert rows["EBOOK"] == -5
    await assert_stock_matches_ledger(shop.app, shop.tenant_id)


async def _stock(shop: Shop) -> list[tuple[str, int, int]]:
    from tests.support.shops import stock_and_ledger

    return await stock_and_ledger(shop.app, shop.tenant_id)


async def test_same_key_same_request_returns_the_same_order(shop: Shop) -> None:
    request = shop.request(shop.line("speaker"))
    first = await shop.app.checkout.place_order(shop.tenant_id, request, idempotency_key="k-1")
    again = await shop.app.checkout.place_order(shop.tenant_id, request, idempotency_key="k-1")
    assert again.id == first.id
    assert again.replayed and not first.replayed
    assert again.total == first.total
    with pytest.raises(ConflictError, match="different request"):
        await shop.app.checkout.place_order(
            shop.tenant_id, shop.request(shop.line("speaker", 2)), idempotency_key="k-1"
        )
    assert await _count(shop.app, shop.tenant_id, "SELECT count(*) FROM orders") == 1


async def test_a_failed_attempt_does_not_burn_the_key(shop: Shop) -> None:
    declined = shop.request(shop.line("speaker"), payment_method=DECLINING_METHOD)
    with pytest.raises(PaymentDeclinedError):
        await shop.app.checkout.place_order(shop.tenant_id, declined, idempotency_key="k-2")
    paid = await shop.app.checkout.place_order(
        shop.tenant_id, shop.request(shop.line("speaker")), idempotency_key="k-2"
    )
    assert paid.payment_status == "paid"


@pytest.fixture
async def race_checkout(urls: bootstrap.StoreUrls) -> Any:
    """A checkout service with a pool as large as the crowd, so every client truly races."""
    database = Database(urls.postgres, min_size=8, max_size=64)
    await database.open()
    yield CheckoutService(database, TestPaymentGateway())
    await database.close()


async def test_concurrent_retries_with_one_key_create_one_order(
    shop: Shop, race_checkout: CheckoutService
) -> None:
    request = shop.request(shop.line("headphones"))
    results = await asyncio.gather(
        *(
            race_checkout.place_order(shop.tenant_id, request, idempotency_key="retry")
            for _ in range(20)
        ),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert len({r.id for r in results}) == 1  # type: ignore[union-attr]
    assert sum(not r.replayed for r in results) == 1  # type: ignore[union-attr]
    assert await _count(shop.app, shop.tenant_id, "SELECT count(*) FROM orders") == 1
    assert dict((s, q) for s, q, _ in await _stock(shop))["HEADPHONES"] == 9


# Each shape: how to build one order's lines (by client number), the units an order takes from
# each raced item, and how many orders can succeed with 10 units of each.
SHAPES = {
    "one line": (lambda n: [("headphones", 1)], 10),
    "two units a line": (lambda n: [("headphones", 2)], 5),
    "two products, both orders": (
        lambda n: (
            [("headphones", 1), ("speaker", 1)] if n % 2 else [("speaker", 1), ("headphones", 1)]
        ),
        10,
    ),
    "product and variant, both orders": (
        lambda n: (
            [("shirt:black", 1), ("headphones", 1), ("cable", 1)]
            if n % 2
            else [("cable", 1), ("headphones", 1), ("shirt:black", 1)]
        ),
        10,
    ),
}


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_no_oversell_when_64_checkouts_race_for_the_last_10_units(
    app: bootstrap.Container, race_checkout: CheckoutService, shape: str
) -> None:
    build, winners = SHAPES[shape]
    shop = await make_shop(app, stock=10)
    requests = [shop.request(*(shop.line(name, q) for name, q in build(n))) for n in range(64)]
    results = await asyncio.gather(
        *(race_checkout.place_order(shop.tenant_id, r) for r in requests), return_exceptions=True
    )
    succeeded = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(succeeded) == winners
    # Every loser was refused for stock: no deadlock, no serialization failure, nothing else.
    assert all(isinstance(r, InsufficientStockError) for r in refused), {type(r) for r in refused}
    stock = {sku: (q, ledger) for sku, q, ledger in await _stock(shop)}
    raced = {shop_sku for name, _ in build(1) for shop_sku in [_sku(name)]}
    for sku in raced:
        assert stock[sku][0] == (10 % 2 if shape == "two units a line" else 0), sku
    await assert_stock_matches_ledger(app, shop.tenant_id)
    assert await _count(app, shop.tenant_id, "SELECT count(*) FROM orders") == winners
    assert await _count(
        app, shop.tenant_id,
        "SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id)",
    ) == 0  # fmt: skip


def _sku(name: str) -> str:
    return {"shirt:black": "SHIRT-BLK"}.get(name, name.upper())


async def test_more_retries_than_pooled_connections_all_get_the_order(
    shop: Shop, urls: bootstrap.StoreUrls
) -> None:
    """Retries waiting on one key hold one connection each, never two: with 12 retries and a
    pool of 3, a replay that needed a second connection would wait for the pool forever."""
    database = Database(urls.postgres, min_size=1, max_size=3)
    await database.open()
    try:
        checkout = CheckoutService(database, TestPaymentGateway())
        request = shop.request(shop.line("speaker"))
        results = await asyncio.wait_for(
            asyncio.gather(
                *(
                    checkout.place_order(shop.tenant_id, request, idempotency_key="crowd")
                    for _ in range(12)
                )
            ),
            timeout=20,
        )
    finally:
        await database.close()
    assert len({placed.id for placed in results}) == 1
    assert sum(not placed.replayed for placed in results) == 1
