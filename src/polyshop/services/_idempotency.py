"""Idempotency keys, claimed inside the change's own transaction, so a retry either waits for
the first attempt's commit and replays its result, or finds nothing and runs. Checkout sends
`CLAIM_KEY` itself, in the same pipeline as its stock locks; other changes call `claim`."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from polyshop.adapters.postgres import Database, UnitOfWork
from polyshop.codec import dumps
from polyshop.domain.errors import ConflictError, ValidationError

CLAIM_KEY = """
    INSERT INTO idempotency_keys (tenant_id, scope, key, request_hash)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (tenant_id, scope, key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash, resource_id = NULL, response = NULL,
            created_at = now(), expires_at = now() + interval '24 hours'
        WHERE idempotency_keys.expires_at < now()
    RETURNING 1
"""


class KeyTaken(Exception):
    """Raised inside a unit of work whose key an earlier call holds: the caller leaves the
    unit of work (giving its connection back) before replaying, so retries waiting on one key
    never hold two pooled connections each."""

    def __init__(self, request_hash: str) -> None:
        super().__init__(request_hash)
        self.request_hash = request_hash


def fingerprint(request: dict[str, Any]) -> str:
    """What must match for a retry with the same key to count as the same request."""
    return hashlib.sha256(dumps(dict(sorted(request.items()))).encode()).hexdigest()


async def claim(uow: UnitOfWork, scope: str, key: str, request_hash: str) -> bool:
    """True when this call owns the key; False when an earlier call already used it."""
    if not 1 <= len(key.strip()) <= 255:
        raise ValidationError("idempotency key must be 1-255 characters", field="idempotency_key")
    cursor = await uow.connection.execute(CLAIM_KEY, (uow.tenant_id, scope, key, request_hash))
    return await cursor.fetchone() is not None


async def record(
    uow: UnitOfWork, scope: str, key: str, resource_id: UUID, response: dict[str, Any]
) -> None:
    await uow.connection.execute(
        "UPDATE idempotency_keys SET resource_id = %s, response = %s WHERE scope = %s AND key = %s",
        (resource_id, Jsonb(response), scope, key),
    )


async def replay(
    database: Database, tenant_id: UUID, scope: str, key: str, request_hash: str
) -> dict[str, Any]:
    async with database.unit_of_work(tenant_id) as uow:
        cursor = await uow.connection.execute(
            "SELECT request_hash, response FROM idempotency_keys WHERE scope = %s AND key = %s",
            (scope, key),
        )
        row = await cursor.fetchone()
    if row is None or row[1] is None:
        raise ConflictError("a request with this idempotency key is still in progress")
    if row[0] != request_hash:
        raise ConflictError("this idempotency key was used for a different request")
    response: dict[str, Any] = row[1]
    return response
