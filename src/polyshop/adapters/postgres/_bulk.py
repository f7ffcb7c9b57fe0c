"""Bulk loading with COPY, for the data generator (`polyshop seed`).

COPY FROM is refused on tables under row-level security for a role that does not bypass it, so
the loader runs as the owner role, like migrations and maintenance. Everything else still holds:
every constraint (composite tenant foreign keys included, so a row can only reference rows of its
own tenant), every trigger (stock location, category cycles, the deferred order/items check at
commit, the per-tenant order sequence) fires for COPY as for INSERT. Each `transaction` also sets
the tenant, as the unit of work does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from polyshop.adapters.postgres._provision import OWNER_ROLE


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict | list) else value


class BulkTransaction:
    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection = connection

    async def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        async with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                await copy.write_row([_adapt(v) for v in row])
        return len(rows)

    async def execute(self, statement: str, params: Sequence[Any] | None = None) -> list[Any]:
        cursor = await self.connection.execute(statement, params)
        return await cursor.fetchall() if cursor.description else []


class BulkLoader:
    """One owner connection; `transaction(tenant)` commits on success, rolls back otherwise."""

    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> BulkLoader:
        self._connection = await psycopg.AsyncConnection.connect(
            self._admin_url, autocommit=False, connect_timeout=10
        )
        await self._connection.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(OWNER_ROLE)))
        await self._connection.commit()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    @asynccontextmanager
    async def transaction(self, tenant_id: UUID | None) -> AsyncIterator[BulkTransaction]:
        assert self._connection is not None, "use the loader as an async context manager"
        connection = self._connection
        try:
            if tenant_id is not None:
                await connection.execute(
                    "SELECT set_config('app.tenant_id', %s, true)", (str(tenant_id),)
                )
            yield BulkTransaction(connection)
            await connection.commit()
        except BaseException:
            await connection.rollback()
            raise

    async def try_execute(self, statement: str, params: Sequence[Any]) -> bool:
        """Run one statement in its own transaction; False (and nothing done) if it fails."""
        assert self._connection is not None
        try:
            await self._connection.execute(statement, params)
            await self._connection.commit()
        except psycopg.Error:
            await self._connection.rollback()
            return False
        return True
