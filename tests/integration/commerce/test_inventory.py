"""Inventory through the ledger: stock always equals the sum of its movements."""

from __future__ import annotations

import random

import pytest

from polyshop.domain.errors import InsufficientStockError, NotFoundError, ValidationError
from polyshop.services.inventory import StockItem
from tests.support.shops import Shop, assert_stock_matches_ledger


async def test_stock_in_adjust_count_and_transfer(shop: Shop) -> None:
    inventory, t = shop.app.inventory, shop.tenant_id
    headphones = StockItem(shop.products["headphones"])
    black = StockItem(shop.products["shirt"], shop.variants["shirt:black"])
    white = StockItem(shop.products["shirt"], shop.variants["shirt:white"])
    assert await inventory.stock_in(t, headphones, 5) == 15
    assert await inventory.adjust(t, headphones, -2, reason="damaged") == 13
    assert await inventory.set_counted(t, headphones, 20) == 20
    await inventory.transfer(t, black, white, 4, reason="relabelled")
    assert (await inventory.level(t, black), await inventory.level(t, white)) == (6, 14)
    ledger = await inventory.ledger(t, headphones)
    assert [(e.type, e.quantity) for e in ledger] == [
        ("in", 10), ("in", 5), ("adjustment", -2), ("adjustment", 7),
    ]  # fmt: skip
    await assert_stock_matches_ledger(shop.app, t)


async def test_bad_movements_are_refused(shop: Shop) -> None:
    inventory, t = shop.app.inventory, shop.tenant_id
    headphones = StockItem(shop.products["headphones"])
    with pytest.raises(ValidationError):
        await inventory.stock_in(t, headphones, 0)
    with pytest.raises(ValidationError, match="reason"):
        await inventory.adjust(t, headphones, -1, reason=" ")
    with pytest.raises(InsufficientStockError, match="HEADPHONES: 11 requested, 10 available"):
        await inventory.adjust(t, headphones, -11, reason="lost")
    with pytest.raises(NotFoundError):
        # A variant of another product.
        await inventory.stock_in(
            t, StockItem(shop.products["headphones"], shop.variants["shirt:black"]), 1
        )
    assert await inventory.level(t, headphones) == 10
    await assert_stock_matches_ledger(shop.app, t)


async def test_stock_equals_the_ledger_after_a_random_run(shop: Shop) -> None:
    inventory, t = shop.app.inventory, shop.tenant_id
    items = [StockItem(shop.products[n]) for n in ("headphones", "speaker", "cable", "preorder")]
    items += [
        StockItem(shop.products["shirt"], shop.variants[v]) for v in ("shirt:black", "shirt:white")
    ]
    rng = random.Random(20261125)
    for _ in range(120):
        action = rng.choice(["in", "adjust", "transfer", "order", "cancel"])
        item = rng.choice(items)
        try:
            if action == "in":
                await inventory.stock_in(t, item, rng.randint(1, 5))
            elif action == "adjust":
                await inventory.adjust(t, item, rng.choice([-3, -1, 1, 2]), reason="count")
            elif action == "transfer":
                other = rng.choice([i for i in items if i != item])
                await inventory.transfer(t, item, other, rng.randint(1, 3))
            elif action == "order":
                line = shop.line("shirt:black" if item.variant_id == shop.variants["shirt:black"]
                                 else "shirt:white" if item.variant_id else
                                 next(n for n, p in shop.products.items() if p == item.product_id),
                                 rng.randint(1, 3))  # fmt: skip
                placed = await shop.app.checkout.place_order(t, shop.request(line))
                if rng.random() < 0.4:
                    await shop.app.orders.cancel(t, placed.id)
        except InsufficientStockError:
            pass
    await assert_stock_matches_ledger(shop.app, t)
