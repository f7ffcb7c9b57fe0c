"""What every catalog command shares: one unit of work per change, PostgreSQL's refusals as
domain errors, the outbox event, the commit, then the listener told which products changed;
and the statements several commands use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any
from uuid import UUID

from psycopg import sql

from polyshop.adapters.postgres import Database, UnitOfWork, domain_errors
from polyshop.domain.catalog import normalise_attribute
from polyshop.domain.errors import NotFoundError, ValidationError
from polyshop.domain.events import Aggregate
from polyshop.domain.money import parse_money
from polyshop.ports import NoListener, ProductChangeListener


class CatalogBase:
    def __init__(self, database: Database, listener: ProductChangeListener | None = None) -> None:
        self._database = database
        self.listener: ProductChangeListener = listener or NoListener()

    @asynccontextmanager
    async def _change(self, tenant_id: UUID) -> AsyncIterator[UnitOfWork]:
        """unit of work -> translated errors -> SQL -> event -> commit -> listener: the body
        writes and appends its events; when it returns, the change commits and the listener
        hears of every product an event was about. An error rolls everything back."""
        async with self._database.unit_of_work(tenant_id) as uow:
            with domain_errors():
                yield uow
            await uow.commit()
        products = [UUID(str(key)) for kind, key, _ in uow.recorded if kind == Aggregate.PRODUCT]
        if products:
            await self.listener.products_changed(tenant_id, list(dict.fromkeys(products)))


def money_or_none(value: Decimal | str | None, name: str) -> Decimal | None:
    return None if value is None else parse_money(value, field=name)


async def insert_returning_id(
    uow: UnitOfWork, table: str, tenant_id: UUID, values: dict[str, Any]
) -> UUID:
    columns = ["tenant_id", *values]
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    cursor = await uow.connection.execute(statement, (tenant_id, *values.values()))
    row = await cursor.fetchone()
    assert row is not None
    return UUID(str(row[0]))


async def update_by_id(
    uow: UnitOfWork, table: str, row_id: UUID, changes: dict[str, Any], what: str,
    returning: str = "id",
) -> Any:  # fmt: skip
    if changes:
        statement = sql.SQL("UPDATE {} SET {} WHERE id = %s RETURNING {}").format(
            sql.Identifier(table),
            sql.SQL(", ").join(
                sql.SQL("{} = %s").format(sql.Identifier(column)) for column in changes
            ),
            sql.Identifier(returning),
        )
    else:  # nothing to change: still say whether the row exists
        statement = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(
            sql.Identifier(returning), sql.Identifier(table)
        )
    cursor = await uow.connection.execute(statement, (*changes.values(), row_id))
    row = await cursor.fetchone()
    if row is None:
        raise NotFoundError(f"{what} not found")
    return row[0]


async def upsert_attribute(
    uow: UnitOfWork, product_id: UUID, name: str, value: object, kind: str
) -> None:
    if not name.strip():
        raise ValidationError("attribute name must not be blank", field="name")
    text = normalise_attribute(kind, value)
    await uow.connection.execute(
        "INSERT INTO product_attributes (tenant_id, product_id, name, value, type)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tenant_id, product_id, name)"
        " DO UPDATE SET value = EXCLUDED.value, type = EXCLUDED.type",
        (uow.tenant_id, product_id, name.strip(), text, kind),
    )


async def lock_product(uow: UnitOfWork, product_id: UUID) -> None:
    """Serialise changes to one product's images (the primary-image rule spans rows)."""
    cursor = await uow.connection.execute(
        "SELECT 1 FROM products WHERE id = %s FOR NO KEY UPDATE", (product_id,)
    )
    if await cursor.fetchone() is None:
        raise NotFoundError("product not found")
