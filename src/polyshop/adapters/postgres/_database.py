"""The application's connection pool (as the role without BYPASSRLS)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from polyshop.adapters.postgres._uow import UnitOfWork
from polyshop.domain.errors import StoreUnavailableError


class Database:
    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"autocommit": False, "connect_timeout": 10},
            name="polyshop",
        )

    async def open(self, wait_seconds: float = 15.0) -> None:
        try:
            await self.pool.open(wait=True, timeout=wait_seconds)
        except PoolTimeout:
            await self.pool.close()
            raise StoreUnavailableError(
                "postgres",
                f"cannot connect within {wait_seconds:.0f}s (is the server up and the URL right?)",
            ) from None

    async def close(self) -> None:
        await self.pool.close()

    def unit_of_work(self, tenant_id: UUID | None = None) -> UnitOfWork:
        return UnitOfWork(self.pool, tenant_id)
