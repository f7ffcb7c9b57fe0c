"""The unit of work: one transaction on one pooled connection, scoped to one tenant.

It rolls back unless `commit()` is called, sets the tenant with `set_config(..., true)` (the
function form of SET LOCAL, so it ends with the transaction and never leaks to the next user
of the pooled connection), and appends outbox events inside the same transaction.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from polyshop.codec import dumps
from polyshop.domain.errors import StoreUnavailableError, TenantRequiredError


class UnitOfWork:
    def __init__(
        self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]], tenant_id: UUID | None
    ) -> None:
        self._pool = pool
        self._tenant_id = tenant_id
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._finished = False
        # What this unit of work appended to the outbox: (aggregate, id, event), in order.
        self.recorded: list[tuple[str, object, str]] = []

    @property
    def tenant_id(self) -> UUID:
        if self._tenant_id is None:
            raise TenantRequiredError("this operation needs a tenant")
        return self._tenant_id

    @property
    def connection(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._finished:
            raise RuntimeError("the unit of work is not open")
        return self._connection

    async def __aenter__(self) -> Self:
        try:
            self._connection = await self._pool.getconn()
        except PoolTimeout as exc:
            raise StoreUnavailableError("postgres", f"no connection available: {exc}") from None
        if self._tenant_id is not None:
            # Pipelined, so the implicit BEGIN and the tenant travel in one round trip.
            async with self._connection.pipeline():
                await self._apply_tenant(self._tenant_id)
        return self

    async def set_tenant(self, tenant_id: UUID) -> None:
        """Scope the rest of this transaction to `tenant_id` (used right after creating one)."""
        self._tenant_id = tenant_id
        await self._apply_tenant(tenant_id)

    async def _apply_tenant(self, tenant_id: UUID) -> None:
        await self.connection.execute(
            "SELECT set_config('app.tenant_id', %s, true)", (str(tenant_id),)
        )

    async def append_event(
        self,
        aggregate_type: str,
        aggregate_id: object,
        event_type: str,
        payload: dict[str, Any],
    ) -> None:
        """Record a domain event in the outbox, atomically with the business write."""
        self.recorded.append((str(aggregate_type), aggregate_id, str(event_type)))
        await self.connection.execute(
            "INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)"
            " VALUES (%s, %s, %s, %s, %s)",
            (
                self.tenant_id,
                str(aggregate_type),
                str(aggregate_id),
                str(event_type),
                Jsonb(payload, dumps),
            ),
        )

    async def commit(self) -> None:
        await self.connection.commit()
        self._finished = True

    async def rollback(self) -> None:
        if self._connection is not None and not self._finished:
            await self._connection.rollback()
        self._finished = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if not self._finished and not connection.closed:
                await connection.rollback()
        finally:
            self._finished = True
            await self._pool.putconn(connection)
