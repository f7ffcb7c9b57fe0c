"""Inventory use cases: stock-in, adjustments and transfers, all through the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from polyshop.adapters.postgres import Database, UnitOfWork
from polyshop.domain.errors import NotFoundError, ValidationError
from polyshop.domain.events import Aggregate, Event
from polyshop.ports import NoListener, ProductChangeListener
from polyshop.services._inventory_ledger import record_movement


@dataclass(frozen=True, slots=True)
class StockItem:
    """What holds stock: a product without variants, or one variant."""

    product_id: UUID
    variant_id: UUID | None = None

    @property
    def lock_key(self) -> tuple[int, UUID]:
        # Products before variants, each by id: the order every transaction locks in.
        return (1, self.variant_id) if self.variant_id else (0, self.product_id)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: UUID
    type: str
    quantity: int
    reason: str | None
    reference_id: UUID | None
    created_at: datetime


class InventoryService:
    def __init__(self, database: Database, listener: ProductChangeListener | None = None) -> None:
        self._database = database
        self._listener: ProductChangeListener = listener or NoListener()

    async def stock_in(
        self, tenant_id: UUID, item: StockItem, quantity: int, *, reason: str = "received",
        actor: UUID | None = None,
    ) -> int:  # fmt: skip
        if quantity <= 0:
            raise ValidationError("stock-in needs a positive quantity", field="quantity")
        return await self._single(tenant_id, item, quantity, "in", reason, actor)

    async def adjust(
        self, tenant_id: UUID, item: StockItem, delta: int, *, reason: str,
        actor: UUID | None = None,
    ) -> int:  # fmt: skip
        """Correct the stock by `delta` (a count found damaged, lost, miscounted)."""
        if delta == 0:
            raise ValidationError("an adjustment must change the stock", field="delta")
        if not reason.strip():
            raise ValidationError("an adjustment needs a reason", field="reason")
        return await self._single(tenant_id, item, delta, "adjustment", reason, actor)

    async def set_counted(
        self, tenant_id: UUID, item: StockItem, counted: int, *, actor: UUID | None = None
    ) -> int:
        """Record a physical count: the ledger gets the difference."""
        if counted < 0:
            raise ValidationError("a count cannot be negative", field="counted")
        async with self._database.unit_of_work(tenant_id) as uow:
            current = await _locked_level(uow, item)
            if counted != current:
                await record_movement(
                    uow, item.product_id, item.variant_id, counted - current, "adjustment",
                    reason="stock count", created_by=actor,
                )  # fmt: skip
                await _announce(uow, item, counted)
            await uow.commit()
        await self._listener.products_changed(tenant_id, [item.product_id], listings=False)
        return counted

    async def transfer(
        self, tenant_id: UUID, source: StockItem, target: StockItem, quantity: int, *,
        reason: str = "transfer", actor: UUID | None = None,
    ) -> UUID:  # fmt: skip
        """Move stock between two items (e.g. re-labelled goods); two ledger rows, one reference."""
        if quantity <= 0:
            raise ValidationError("a transfer needs a positive quantity", field="quantity")
        if source == target:
            raise ValidationError("source and target are the same item", field="target")
        reference = uuid4()
        async with self._database.unit_of_work(tenant_id) as uow:
            for item in sorted((source, target), key=lambda i: i.lock_key):
                await _locked_level(uow, item)
            await record_movement(
                uow, source.product_id, source.variant_id, -quantity, "transfer",
                reason=reason, reference_id=reference, created_by=actor,
            )  # fmt: skip
            await record_movement(
                uow, target.product_id, target.variant_id, quantity, "transfer",
                reason=reason, reference_id=reference, created_by=actor,
            )  # fmt: skip
            await uow.append_event(Aggregate.INVENTORY, reference, Event.INVENTORY_TRANSFERRED,
                {"from": _describe(source), "to": _describe(target), "quantity": quantity},
            )  # fmt: skip
            await uow.commit()
        await self._listener.products_changed(
            tenant_id, {source.product_id, target.product_id}, listings=False
        )
        return reference

    async def level(self, tenant_id: UUID, item: StockItem) -> int:
        async with self._database.unit_of_work(tenant_id) as uow:
            return await _locked_level(uow, item, lock=False)

    async def ledger(self, tenant_id: UUID, item: StockItem) -> list[LedgerEntry]:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT id, type, quantity, reason, reference_id, created_at"
                " FROM inventory_transactions WHERE product_id = %s"
                " AND variant_id IS NOT DISTINCT FROM %s ORDER BY created_at, id",
                (item.product_id, item.variant_id),
            )
            return [LedgerEntry(*row) for row in await cursor.fetchall()]

    async def _single(
        self, tenant_id: UUID, item: StockItem, quantity: int, kind: str, reason: str,
        actor: UUID | None,
    ) -> int:  # fmt: skip
        async with self._database.unit_of_work(tenant_id) as uow:
            level = await record_movement(
                uow, item.product_id, item.variant_id, quantity, kind,  # type: ignore[arg-type]
                reason=reason, created_by=actor,
            )  # fmt: skip
            await _announce(uow, item, level)
            await uow.commit()
        await self._listener.products_changed(tenant_id, [item.product_id], listings=False)
        return level


def _describe(item: StockItem) -> dict[str, str | None]:
    return {
        "product_id": str(item.product_id),
        "variant_id": str(item.variant_id) if item.variant_id else None,
    }


async def _announce(uow: UnitOfWork, item: StockItem, level: int) -> None:
    await uow.append_event(
        Aggregate.PRODUCT,
        item.product_id,
        Event.INVENTORY_CHANGED,
        {**_describe(item), "quantity": level},
    )


async def _locked_level(uow: UnitOfWork, item: StockItem, *, lock: bool = True) -> int:
    if item.variant_id is not None:
        statement = (
            "SELECT inventory_quantity FROM product_variants WHERE id = %s AND product_id = %s"
        )
        params: tuple[UUID, ...] = (item.variant_id, item.product_id)
    else:
        statement = "SELECT inventory_quantity FROM products WHERE id = %s"
        params = (item.product_id,)
    cursor = await uow.connection.execute(statement + (" FOR UPDATE" if lock else ""), params)
    row = await cursor.fetchone()
    if row is None:
        raise NotFoundError("stock item not found")
    return int(row[0])
