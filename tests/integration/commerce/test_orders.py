"""The order lifecycle: legal transitions only, history kept, cancel restocks, refunds add up."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from polyshop.adapters.payments import DECLINING_METHOD
from polyshop.domain.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    PaymentDeclinedError,
    ValidationError,
)
from tests.support.shops import Shop, assert_stock_matches_ledger


async def _placed(shop: Shop, *lines: tuple[str, int]) -> object:
    return await shop.app.checkout.place_order(
        shop.tenant_id, shop.request(*(shop.line(n, q) for n, q in lines))
    )


async def test_an_order_walks_to_delivered_with_its_history(shop: Shop) -> None:
    placed = await _placed(shop, ("speaker", 1))
    orders = shop.app.orders
    await orders.mark_processing(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    await orders.ship(shop.tenant_id, placed.id, carrier="UPS", tracking_number="1Z999")  # type: ignore[attr-defined]
    await orders.deliver(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    order = await orders.get(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    assert (order["status"], order["shipping_status"], order["payment_status"]) == (
        "delivered", "delivered", "paid",
    )  # fmt: skip
    assert order["shipped_at"] is not None and order["delivered_at"] >= order["shipped_at"]
    assert (order["shipping_carrier"], order["tracking_number"]) == ("UPS", "1Z999")
    assert [(e["from_status"], e["to_status"]) for e in order["events"]] == [
        (None, "pending"), ("pending", "confirmed"), ("confirmed", "processing"),
        ("processing", "shipped"), ("shipped", "delivered"),
    ]  # fmt: skip


async def test_illegal_transitions_are_refused_and_change_nothing(shop: Shop) -> None:
    placed = await _placed(shop, ("speaker", 1))
    with pytest.raises(InvalidTransitionError, match="confirmed cannot become delivered"):
        await shop.app.orders.deliver(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    await shop.app.orders.cancel(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    with pytest.raises(InvalidTransitionError, match="final"):
        await shop.app.orders.ship(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    order = await shop.app.orders.get(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    assert order["status"] == "cancelled"
    assert order["shipped_at"] is None


async def test_cancel_restocks_and_refunds(shop: Shop) -> None:
    placed = await _placed(shop, ("headphones", 3), ("shirt:black", 2))
    await shop.app.orders.cancel(shop.tenant_id, placed.id, reason="customer asked")  # type: ignore[attr-defined]
    order = await shop.app.orders.get(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    assert (order["status"], order["payment_status"]) == ("cancelled", "refunded")
    assert order["payments"][0]["refunded_amount"] == order["payments"][0]["amount"]
    assert order["payments"][0]["status"] == "refunded"
    product = await shop.app.catalog.product(shop.tenant_id, product_id=shop.products["headphones"])
    assert product["inventory_quantity"] == 10
    await assert_stock_matches_ledger(shop.app, shop.tenant_id)


async def test_shipped_orders_cannot_be_cancelled_only_refunded(shop: Shop) -> None:
    placed = await _placed(shop, ("speaker", 1))
    await shop.app.orders.mark_processing(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    await shop.app.orders.ship(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    with pytest.raises(InvalidTransitionError):
        await shop.app.orders.cancel(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    refunded = await shop.app.orders.refund(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    assert refunded == placed.total  # type: ignore[attr-defined]
    order = await shop.app.orders.get(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    assert (order["status"], order["payment_status"], order["shipping_status"]) == (
        "refunded", "refunded", "shipped",
    )  # fmt: skip


async def test_partial_refunds_add_up_and_cannot_exceed_the_payment(shop: Shop) -> None:
    placed = await _placed(shop, ("speaker", 1))  # 30.00 + 3.00 tax + 5.00 shipping
    total = placed.total  # type: ignore[attr-defined]
    assert total == Decimal("38.00")
    assert await shop.app.orders.refund(shop.tenant_id, placed.id, "10.00") == Decimal("10.00")  # type: ignore[attr-defined]
    order = await shop.app.orders.get(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    assert (order["status"], order["payment_status"]) == ("confirmed", "partially_refunded")
    with pytest.raises(ValidationError, match=r"only 28\.00 is left"):
        await shop.app.orders.refund(shop.tenant_id, placed.id, "28.01")  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="more than two decimals"):
        await shop.app.orders.refund(shop.tenant_id, placed.id, "1.001")  # type: ignore[attr-defined]
    assert await shop.app.orders.refund(shop.tenant_id, placed.id, "28.00") == Decimal("28.00")  # type: ignore[attr-defined]
    order = await shop.app.orders.get(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    assert (order["status"], order["payment_status"]) == ("refunded", "refunded")
    with pytest.raises(ConflictError, match="nothing to refund"):
        await shop.app.orders.refund(shop.tenant_id, placed.id, "1.00")  # type: ignore[attr-defined]


async def test_concurrent_refunds_never_refund_more_than_was_paid(shop: Shop) -> None:
    placed = await _placed(shop, ("speaker", 1))
    results = await asyncio.gather(
        *(shop.app.orders.refund(shop.tenant_id, placed.id, "10.00") for _ in range(6)),  # type: ignore[attr-defined]
        return_exceptions=True,
    )
    refunded = [r for r in results if isinstance(r, Decimal)]
    assert len(refunded) == 3  # 3 x 10.00 of 38.00
    assert all(isinstance(r, ValidationError) for r in results if not isinstance(r, Decimal))
    order = await shop.app.orders.get(shop.tenant_id, placed.id)  # type: ignore[attr-defined]
    assert order["payments"][0]["refunded_amount"] == Decimal("30.00")


async def test_customers_see_only_their_own_orders(shop: Shop) -> None:
    placed = await _placed(shop, ("speaker", 1))
    other = await shop.app.customers.register(
        shop.tenant_id, "bob@example.com", "another long password", "Bob", "Ray"
    )
    with pytest.raises(NotFoundError):
        await shop.app.orders.get(shop.tenant_id, placed.id, customer_id=other.id)  # type: ignore[attr-defined]
    history = await shop.app.orders.history(shop.tenant_id, shop.customer_id)
    assert [o.id for o in history] == [placed.id]  # type: ignore[attr-defined]
    assert await shop.app.orders.history(shop.tenant_id, other.id) == []


async def test_a_refused_attempt_is_in_the_shops_history_not_the_customers(shop: Shop) -> None:
    placed = await _placed(shop, ("speaker", 1))
    refused = shop.request(shop.line("cable"), payment_method=DECLINING_METHOD)
    with pytest.raises(PaymentDeclinedError):
        await shop.app.checkout.place_order(shop.tenant_id, refused)
    mine = await shop.app.orders.history(shop.tenant_id, shop.customer_id)
    assert [o.id for o in mine] == [placed.id]  # type: ignore[attr-defined]
    shops = await shop.app.orders.history(shop.tenant_id, None)
    assert [o.status for o in shops] == ["cancelled", "confirmed"]
    assert shops[1].id == placed.id  # type: ignore[attr-defined]


async def test_order_history_pages_by_keyset(shop: Shop) -> None:
    ids = [(await _placed(shop, ("cable", 1))).id for _ in range(5)]  # type: ignore[attr-defined]
    first = await shop.app.orders.history(shop.tenant_id, shop.customer_id, limit=3)
    rest = await shop.app.orders.history(
        shop.tenant_id, shop.customer_id, limit=3, before=(first[-1].created_at, first[-1].id)
    )
    assert [o.id for o in first + rest] == list(reversed(ids))
