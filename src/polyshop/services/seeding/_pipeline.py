"""The generator process's side: every shop's rows, in load order, as COPY text, sent to the
loader through a bounded queue (`run_generator`), with the messages that travel on it.

The rows are formatted as COPY text (`encode_rows`) here too, so the loading process only sends
bytes and waits for the server while this one makes the next transaction.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from polyshop.adapters.postgres import encode_rows
from polyshop.services.seeding._generator import ShopGenerator
from polyshop.services.seeding._plan import Batch, SeedPlan


@dataclass(frozen=True, slots=True)
class NewShop:
    """A shop starts: check its slug is free, make its analytics partitions."""

    tenant_id: UUID
    slug: str
    start: datetime
    months: int


@dataclass(frozen=True, slots=True)
class CopyRows:
    """One transaction's rows, already COPY text: (table, columns, data, rows) each; `stage`,
    `done` and `total` are for the progress callback."""

    tenant_id: UUID
    tables: list[tuple[str, tuple[str, ...], bytes, int]]
    stage: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class ShopStock:
    """A shop ends: the stock its ledger adds up to, and where its order numbers stand."""

    tenant_id: UUID
    products: list[tuple[UUID, int]]
    variants: list[tuple[UUID, int]]
    orders: int


@dataclass(frozen=True, slots=True)
class GeneratorFailed:
    error: str  # the generator's error, as text (it crosses a process boundary)


# What the queue carries; None says everything was sent.
Message = NewShop | CopyRows | ShopStock | GeneratorFailed | None


def _copy_rows(tenant_id: UUID, batches: Sequence[Batch], stage: str, done: int,
               total: int) -> CopyRows:  # fmt: skip
    return CopyRows(tenant_id, [(b.table, b.columns, encode_rows(b.rows), len(b.rows))
                                for b in batches if b.rows], stage, done, total)  # fmt: skip


def messages(plan: SeedPlan, hashed: str) -> Iterator[NewShop | CopyRows | ShopStock]:
    """Everything to load, in order, as COPY text."""
    for index in range(plan.shops):
        shop = ShopGenerator(plan, index)
        t = shop.tenant_id
        yield NewShop(t, shop.slug, shop.start, plan.months)
        yield _copy_rows(t, shop.catalog(), "catalog", shop.n_products, plan.products)
        for batches in shop.users(hashed):
            yield _copy_rows(t, batches, "users", len(batches[0].rows), plan.users + plan.shops)
        for batches in shop.orders():
            yield _copy_rows(t, batches, "orders", len(batches[0].rows), plan.orders)
        for batches, events in shop.sessions():
            yield _copy_rows(t, batches, "events", events, plan.events)
        products, variants = shop.final_stock()
        yield ShopStock(t, products, variants, shop.n_orders)


def run_generator(plan: SeedPlan, hashed: str, items: Any, stop: Any) -> None:
    """The generator process: `messages` into the bounded queue until done or told to stop."""

    def put(item: Message) -> None:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.2)
            except queue.Full:
                continue
            return

    try:
        for item in messages(plan, hashed):
            if stop.is_set():
                break
            put(item)
        else:
            put(None)
    except Exception as error:
        put(GeneratorFailed(f"{type(error).__name__}: {error}"))
    if stop.is_set():
        items.cancel_join_thread()  # a stopped loader reads no more: exit without flushing
