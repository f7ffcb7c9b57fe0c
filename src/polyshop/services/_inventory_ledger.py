"""Every stock movement goes through here: the stock figure changes and its ledger row is
written in the same transaction, so stock always equals the sum of the ledger."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from polyshop.adapters.postgres import UnitOfWork, domain_errors
from polyshop.domain.errors import InsufficientStockError, NotFoundError

MovementType = Literal["in", "out", "adjustment", "transfer"]


async def record_movement(
    uow: UnitOfWork,
    product_id: UUID,
    variant_id: UUID | None,
    quantity: int,
    kind: MovementType,
    *,
    reason: str | None = None,
    reference_id: UUID | None = None,
    created_by: UUID | None = None,
    notes: str | None = None,
) -> int:
    """Apply `quantity` (signed) to the item's stock and log it; returns the new stock.

    A `deny` item never goes below zero: the update only matches while the stock suffices.
    """
    if variant_id is not None:
        table, target = "product_variants", variant_id
        may_go_negative = "inventory_policy = 'continue'"
        belongs = f"AND product_id = '{product_id}'"
    else:
        table, target, belongs = "products", product_id, ""
        may_go_negative = "(inventory_policy = 'continue' OR NOT inventory_tracking)"
    with domain_errors(field="quantity"):  # stock past the integer range
        cursor = await uow.connection.execute(
            f"UPDATE {table} SET inventory_quantity = inventory_quantity + %s WHERE id = %s"
            f" {belongs} AND ({may_go_negative} OR inventory_quantity + %s >= 0)"
            " RETURNING inventory_quantity",
            (quantity, target, quantity),
        )
    row = await cursor.fetchone()
    if row is None:
        cursor = await uow.connection.execute(
            f"SELECT sku, inventory_quantity FROM {table} WHERE id = %s {belongs}", (target,)
        )
        found = await cursor.fetchone()
        if found is None:
            raise NotFoundError("variant not found" if variant_id else "product not found")
        raise InsufficientStockError([(str(found[0]), -quantity, int(found[1]))])
    await uow.connection.execute(
        "INSERT INTO inventory_transactions (tenant_id, product_id, variant_id, type, quantity,"
        " reason, reference_id, created_by, notes) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (uow.tenant_id, product_id, variant_id, kind, quantity, reason, reference_id, created_by,
         notes),
    )  # fmt: skip
    return int(row[0])
