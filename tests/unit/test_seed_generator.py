"""The data generator without a database: deterministic for a seed, and every row it makes keeps
the rules the schema checks (so a failure at COPY time would be a schema change, not chance)."""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from polyshop.domain.orders import OrderStatus, is_legal_history
from polyshop.services.seeding import COLUMNS, SeedPlan, ShopGenerator, password_hash

PLAN = SeedPlan(shops=2, users=60, products=30, orders=150, events=400, seed=11, months=6,
                until=date(2026, 3, 1))  # fmt: skip


def _everything(plan: SeedPlan, index: int) -> dict[str, list[tuple[Any, ...]]]:
    shop = ShopGenerator(plan, index)
    tables: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    batches = list(shop.catalog())
    batches += [b for chunk in shop.users(password_hash(plan.seed)) for b in chunk]
    batches += [b for chunk in shop.orders() for b in chunk]
    batches += [b for chunk, _ in shop.sessions() for b in chunk]
    for batch in batches:
        assert batch.columns == COLUMNS[batch.table]
        assert all(len(row) == len(batch.columns) for row in batch.rows)
        tables[batch.table] += batch.rows
    products, variants = shop.final_stock()
    tables["stock"] = [*products, *variants]
    return tables


# The rules below read one generation (the determinism test generates afresh each time).
_shop = functools.cache(_everything)


def _col(table: str, name: str) -> int:
    return COLUMNS[table].index(name)


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows() -> None:
    first, again = _everything(PLAN, 0), _everything(PLAN, 0)
    assert first == again
    other = _everything(dataclasses.replace(PLAN, seed=12), 0)
    assert other["orders"] != first["orders"]
    assert other["users"] != first["users"]


def test_the_shops_split_the_plan_and_have_their_own_tenant() -> None:
    a, b = _shop(PLAN, 0), _shop(PLAN, 1)
    assert len(a["orders"]) + len(b["orders"]) == PLAN.orders
    assert len(a["users"]) + len(b["users"]) == PLAN.users + PLAN.shops  # one admin per shop
    for tables in (a, b):
        (tenant,) = {row[0] for row in tables["tenants"]}
        for name, rows in tables.items():
            if name in ("tenants", "stock"):
                continue
            assert {row[0] for row in rows} == {tenant}, name


def test_orders_add_up_and_move_only_through_legal_steps() -> None:
    tables = _shop(PLAN, 0)
    items: dict[Any, Decimal] = defaultdict(Decimal)
    for row in tables["order_items"]:
        quantity, unit, total = row[_col("order_items", "quantity") :][:3]
        assert total == quantity * unit and quantity > 0
        items[row[_col("order_items", "order_id")]] += total
    history: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
    for row in tables["order_events"]:
        history[row[_col("order_events", "order_id")]].append(row)
    payments = {row[_col("payments", "order_id")]: row for row in tables["payments"]}
    statuses = Counter()
    for order in tables["orders"]:
        oid = order[1]
        subtotal, tax, shipping, discount, total = order[5:10]
        assert subtotal == items[oid]
        assert total == subtotal + tax + shipping - discount >= 0
        assert payments[oid][_col("payments", "amount")] == total
        steps = sorted(history[oid], key=lambda r: r[-1])
        assert steps[0][3] is None and steps[0][4] == "pending"
        path = [OrderStatus(r[4]) for r in steps]
        assert is_legal_history(path) and path[-1] == order[4]
        statuses[order[4]] += 1
        shipped, delivered = order[-2], order[-1]
        assert delivered is None or (shipped is not None and delivered >= shipped)
    # A history over months: most orders arrived, a few were declined or refunded.
    assert statuses["delivered"] > len(tables["orders"]) / 2
    assert statuses["cancelled"] + statuses["refunded"] > 0


def test_the_ledger_adds_up_to_the_stock_that_is_written() -> None:
    tables = _shop(PLAN, 0)
    ledger: dict[Any, int] = defaultdict(int)
    for row in tables["inventory_transactions"]:
        kind, quantity = row[4], row[5]
        assert (kind == "in" and quantity > 0) or (kind == "out" and quantity < 0)
        variant = row[_col("inventory_transactions", "variant_id")]
        ledger[variant or row[_col("inventory_transactions", "product_id")]] += quantity
    assert dict(tables["stock"]) == dict(ledger)
    assert all(quantity >= 0 for _, quantity in tables["stock"])


def test_reviews_come_from_delivered_orders_of_their_author() -> None:
    tables = _shop(PLAN, 0)
    orders = {row[1]: row for row in tables["orders"]}
    bought = {(row[2], row[3]) for row in tables["order_items"]}
    assert tables["reviews"]
    for review in tables["reviews"]:
        order = orders[review[_col("reviews", "order_id")]]
        assert order[3] == review[_col("reviews", "user_id")]
        assert order[-1] is not None and review[-1] > order[-1]  # written after delivery
        assert (order[1], review[_col("reviews", "product_id")]) in bought
    keys = [(r[2], r[3], r[4]) for r in tables["reviews"]]
    assert len(keys) == len(set(keys))


def test_storefront_batches_follow_the_shared_event_contract() -> None:
    tables = _shop(PLAN, 0)
    batches = [row for row in tables["outbox"] if row[3] == "storefront.events_recorded"]
    events = [event for row in batches for event in row[4]["events"]]
    assert len(events) == PLAN.share(PLAN.events, 0)
    keys = {"event_id", "type", "occurred_at", "customer_id", "cart_token", "session_id",
            "product_id", "category_id", "query", "quantity"}  # fmt: skip
    assert all(set(e) == keys for e in events)
    assert {e["type"] for e in events} <= {
        "view", "search", "add_to_cart", "remove_from_cart", "checkout_started"}  # fmt: skip
    assert len({e["event_id"] for e in events}) == len(events)
