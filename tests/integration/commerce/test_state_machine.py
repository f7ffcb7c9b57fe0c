"""Random sequences of checkout, cancel, refund, stock adjustment and shipping, on real
PostgreSQL, checking after every step that stock equals the ledger, totals add up, refunds
stay within payments and every order's history only took legal steps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from polyshop import bootstrap
from polyshop.domain.errors import (
    ConflictError,
    InsufficientStockError,
    InvalidTransitionError,
    ValidationError,
)
from polyshop.domain.orders import OrderStatus, allowed_next, is_legal_history
from polyshop.services.inventory import StockItem
from tests.support.shops import Shop, make_shop, stock_and_ledger

T = TypeVar("T")
ITEMS = ["headphones", "speaker", "cable", "preorder", "shirt:black", "shirt:white"]


class CommerceMachine(RuleBasedStateMachine):
    orders = Bundle("orders")
    loop: asyncio.AbstractEventLoop
    app: bootstrap.Container

    def __init__(self) -> None:
        super().__init__()
        self.shop: Shop = self.run(make_shop(self.app, stock=6))
        self.status: dict[UUID, OrderStatus] = {}

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    @rule(target=orders, picks=st.lists(st.tuples(st.sampled_from(ITEMS), st.integers(1, 4)),
                                        min_size=1, max_size=3))  # fmt: skip
    def checkout(self, picks: list[tuple[str, int]]) -> Any:
        request = self.shop.request(*(self.shop.line(name, q) for name, q in picks))
        try:
            placed = self.run(self.app.checkout.place_order(self.shop.tenant_id, request))
        except InsufficientStockError:
            return None
        self.status[placed.id] = OrderStatus.CONFIRMED
        return placed.id

    def _transition(
        self, order: UUID | None, target: OrderStatus, action: Coroutine[Any, Any, Any]
    ) -> None:
        if order is None:
            action.close()
            return
        legal = target in allowed_next(self.status[order])
        try:
            self.run(action)
        except (InvalidTransitionError, ValidationError) as exc:
            assert not legal, exc
            return
        assert legal
        self.status[order] = target

    @rule(order=orders)
    def cancel(self, order: UUID | None) -> None:
        self._transition(
            order, OrderStatus.CANCELLED, self.app.orders.cancel(self.shop.tenant_id, order)
        )  # type: ignore[arg-type]

    @rule(order=orders, step=st.sampled_from(["processing", "ship", "deliver"]))
    def advance(self, order: UUID | None, step: str) -> None:
        target, call = {
            "processing": (OrderStatus.PROCESSING, self.app.orders.mark_processing),
            "ship": (OrderStatus.SHIPPED, self.app.orders.ship),
            "deliver": (OrderStatus.DELIVERED, self.app.orders.deliver),
        }[step]
        self._transition(order, target, call(self.shop.tenant_id, order))  # type: ignore[arg-type]

    @rule(order=orders, cents=st.integers(1, 20_000))
    def refund(self, order: UUID | None, cents: int) -> None:
        if order is None:
            return
        amount = Decimal(cents) / 100
        before = self.run(self.app.orders.get(self.shop.tenant_id, order))
        left = sum((p["amount"] - p["refunded_amount"] for p in before["payments"]), Decimal(0))
        refundable = before["payment_status"] in ("paid", "partially_refunded")
        try:
            self.run(self.app.orders.refund(self.shop.tenant_id, order, amount))
        except ValidationError:
            assert refundable and amount > left
            return
        except ConflictError:
            assert not refundable
            return
        assert refundable and amount <= left
        if amount == left:
            self.status[order] = OrderStatus.REFUNDED

    @rule(name=st.sampled_from(ITEMS), delta=st.integers(-5, 5).filter(bool))
    def adjust(self, name: str, delta: int) -> None:
        product, variant = self.shop.products[name.split(":")[0]], self.shop.variants.get(name)
        with contextlib.suppress(InsufficientStockError):
            self.run(self.app.inventory.adjust(self.shop.tenant_id, StockItem(product, variant), delta,
                                               reason="random"))  # fmt: skip

    @invariant()
    def stock_equals_ledger_and_deny_items_never_go_negative(self) -> None:
        for sku, stock, ledger in self.run(stock_and_ledger(self.app, self.shop.tenant_id)):
            assert stock == ledger, sku
            if sku not in ("PREORDER", "EBOOK"):
                assert stock >= 0, sku

    @invariant()
    def orders_add_up_and_histories_are_legal(self) -> None:
        for order_id, expected in self.status.items():
            order = self.run(self.app.orders.get(self.shop.tenant_id, order_id))
            assert OrderStatus(order["status"]) == expected
            assert order["total_amount"] == (
                order["subtotal"]
                + order["tax_amount"]
                + order["shipping_amount"]
                - order["discount_amount"]
            )
            assert order["subtotal"] == sum(i["total_price"] for i in order["items"])
            for payment in order["payments"]:
                assert Decimal(0) <= payment["refunded_amount"] <= payment["amount"]
            refunded = sum((p["refunded_amount"] for p in order["payments"]), Decimal(0))
            paid = sum((p["amount"] for p in order["payments"]), Decimal(0))
            expected_payment = {Decimal(0): "paid", paid: "refunded"}.get(
                refunded, "partially_refunded"
            )
            assert order["payment_status"] == expected_payment
            history = [OrderStatus(e["to_status"]) for e in order["events"]]
            # Reserved, then paid: every placed order went pending -> confirmed first.
            assert history[:2] == [OrderStatus.PENDING, OrderStatus.CONFIRMED]
            assert is_legal_history(history)
            assert history[-1] == expected


@pytest.mark.slow
def test_random_commerce_sequences_keep_every_invariant(
    settings: Any, urls: bootstrap.StoreUrls
) -> None:
    loop = asyncio.new_event_loop()
    context = bootstrap.application(settings, urls)
    CommerceMachine.loop = loop
    CommerceMachine.app = loop.run_until_complete(context.__aenter__())
    try:
        runner = CommerceMachine.TestCase
        runner.settings = _settings
        runner().runTest()
    finally:
        loop.run_until_complete(context.__aexit__(None, None, None))
        loop.close()


_settings = settings(
    max_examples=12,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
