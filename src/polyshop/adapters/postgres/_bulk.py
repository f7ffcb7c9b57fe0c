"""Bulk loading with COPY, for the data generator (`polyshop seed`).

COPY FROM is refused on tables under row-level security for a role that does not bypass it, so
the loader runs as the owner role, like migrations and maintenance. Everything else still holds:
every constraint (composite tenant foreign keys included, so a row can only reference rows of its
own tenant), every trigger (stock location, category cycles, the deferred order/items check at
commit, the per-tenant order sequence) fires for COPY as for INSERT. Each `transaction` also sets
the tenant, as the unit of work does.

Rows are sent as COPY text that `copy_text` formats (`encode_rows`), which a producer thread
can do while this connection waits for the server: at a million orders the Python side and the
server side each take about one core, and doing both in turn took twice as long.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from polyshop.adapters.postgres._provision import OWNER_ROLE


def _adapt(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict | list) else value


# COPY's text format: tab between fields, newline between rows, \N for NULL, and a backslash
# before a backslash, tab, newline or carriage return inside a value.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str).translate(_ESCAPES)


# One formatter per exact type (exact: bool is an int, and must print as t/f).
_FORMAT: dict[type, Callable[[Any], str]] = {
    str: lambda v: v.translate(_ESCAPES),
    int: str,
    bool: lambda v: "t" if v else "f",
    Decimal: str,
    UUID: str,
    datetime: datetime.isoformat,
    date: date.isoformat,
    float: repr,
    dict: _json,
    list: _json,
}


def _field(value: Any) -> str:
    """A value of a type without its own formatter: a subclass (a StrEnum, an IntEnum)."""
    if isinstance(value, str):
        return str(value).translate(_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return format(value, "d")
    for kind in (datetime, date, dict, list):  # datetime before date: it is one
        if isinstance(value, kind):
            return _FORMAT[kind](value)
    raise TypeError(f"cannot COPY a {type(value).__name__}")


def encode_rows(rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows as COPY text (None is NULL; dicts and lists are JSON, for jsonb columns)."""
    lines = []
    fmt = _FORMAT
    for row in rows:
        lines.append("\t".join("\\N" if v is None else fmt.get(type(v), _field)(v) for v in row))
    lines.append("")
    return "\n".join(lines).encode()


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

    async def copy_text(self, table: str, columns: Sequence[str], data: bytes) -> None:
        """COPY rows already formatted by `encode_rows`."""
        if not data:
            return
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        async with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
            await copy.write(data)

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
