"""The DocumentStore port on PostgreSQL JSONB (the embedded default): one `documents` table
under row-level security, a GIN index for containment queries, and the relay checkpoint
written in the same transaction as the documents, so each change is applied exactly once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from polyshop.adapters.postgres._database import Database
from polyshop.adapters.postgres._shared_sql import save_checkpoint
from polyshop.codec import decode, encode
from polyshop.ports import Checkpoint, DocumentChange

# The field each collection's `lookup_key` column holds (0010_document_lookup.up.sql).
_LOOKUP_KEYS = {"orders": "user.id", "products": "slug"}


def _nested(equals: dict[str, Any]) -> dict[str, Any]:
    """{"category.id": x} -> {"category": {"id": x}}, for JSONB containment."""
    result: dict[str, Any] = {}
    for path, value in equals.items():
        node = result
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return result


# The tenant comes from the transaction (app.tenant_id), which row-level security checks anyway.
_UPSERT = """
    INSERT INTO documents (tenant_id, collection, id, body, version)
    SELECT app_current_tenant(), d.collection, d.id, d.body, d.version
      FROM unnest(%s::text[], %s::text[], %s::jsonb[], %s::bigint[])
           AS d(collection, id, body, version)
    ON CONFLICT (tenant_id, collection, id) DO UPDATE
       SET body = EXCLUDED.body, version = EXCLUDED.version
     WHERE documents.version <= EXCLUDED.version
       AND documents.body IS DISTINCT FROM EXCLUDED.body
"""
_DELETE = """
    DELETE FROM documents
     USING unnest(%s::text[], %s::text[], %s::bigint[]) AS d(collection, id, version)
     WHERE documents.collection = d.collection AND documents.id = d.id
       AND documents.version <= d.version
"""


class PostgresDocumentStore:
    name = "postgres-jsonb"

    def __init__(self, database: Database) -> None:
        self._database = database

    async def apply(self, changes: list[DocumentChange], checkpoint: Checkpoint | None) -> int:
        """Every change of a batch in one round trip: per tenant one upsert and one delete of
        arrays (unnest), then the checkpoint and the commit, pipelined."""
        latest: dict[tuple[UUID, str, str], DocumentChange] = {}
        for change in changes:  # one row per document: the newest build wins
            key = (change.tenant_id, change.collection, change.id)
            if key not in latest or latest[key].version <= change.version:
                latest[key] = change
        by_tenant: dict[UUID, list[DocumentChange]] = {}
        for change in latest.values():
            by_tenant.setdefault(change.tenant_id, []).append(change)
        cursors = []
        async with self._database.unit_of_work() as uow:
            connection = uow.connection
            async with connection.pipeline():
                for tenant_id, group in by_tenant.items():
                    await uow.set_tenant(tenant_id)
                    written = [c for c in group if c.document is not None]
                    gone = [c for c in group if c.document is None]
                    if written:
                        cursors.append(await connection.execute(_UPSERT, (
                            [c.collection for c in written], [c.id for c in written],
                            [Jsonb(encode({**c.document, "tenant_id": str(tenant_id)}))
                             for c in written if c.document is not None],
                            [c.version for c in written],
                        )))  # fmt: skip
                    if gone:
                        cursors.append(await connection.execute(_DELETE, (
                            [c.collection for c in gone], [c.id for c in gone],
                            [c.version for c in gone],
                        )))  # fmt: skip
                if checkpoint is not None:
                    await save_checkpoint(connection, checkpoint)
                await uow.commit()
        return sum(max(cursor.rowcount, 0) for cursor in cursors)

    async def close(self) -> None:
        return None  # the pool belongs to the Database, closed by its owner

    async def get(self, tenant_id: UUID, collection: str, doc_id: str) -> dict[str, Any] | None:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT body FROM documents WHERE collection = %s AND id = %s", (collection, doc_id)
            )
            row = await cursor.fetchone()
        return decode(row[0]) if row else None

    async def find(
        self, tenant_id: UUID, collection: str, *, equals: dict[str, Any],
        sort: str | None = None, descending: bool = False, limit: int = 50,
    ) -> list[dict[str, Any]]:  # fmt: skip
        order = "id"
        params: list[Any] = [collection, Jsonb(encode(_nested(equals)))]
        # The same equality on `lookup_key` where the collection has one (migration 0010): the
        # containment above cannot use an index under row-level security, this can.
        lookup = ""
        key = _LOOKUP_KEYS.get(collection)
        if key is not None and isinstance(equals.get(key), str):
            lookup = " AND lookup_key = %s"
            params.append(equals[key])
        if sort is not None:
            path = sort.split(".")
            # Dates are kept as {"$date": iso}; ISO strings of one format sort in time order.
            order = "coalesce(body #>> %s::text[], body #>> %s::text[])"
            params += [[*path, "$date"], path]
        direction = "DESC" if descending else "ASC"
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                f"SELECT body FROM documents WHERE collection = %s AND body @> %s{lookup}"
                f" ORDER BY {order} {direction}, id {direction} LIMIT %s",
                (*params, limit),
            )
            return [decode(row[0]) for row in await cursor.fetchall()]

    async def all(self, tenant_id: UUID, collection: str) -> dict[str, dict[str, Any]]:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT id, body FROM documents WHERE collection = %s", (collection,)
            )
            return {row[0]: decode(row[1]) for row in await cursor.fetchall()}

    async def get_many(
        self, tenant_id: UUID, collection: str, ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT id, body FROM documents WHERE collection = %s AND id = ANY(%s)",
                (collection, list(ids)),
            )
            return {row[0]: decode(row[1]) for row in await cursor.fetchall()}

    async def id_page(
        self, tenant_id: UUID, collection: str, after: str | None, limit: int
    ) -> list[str]:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT id FROM documents WHERE collection = %s AND id > %s ORDER BY id LIMIT %s",
                (collection, after or "", limit),
            )
            return [row[0] for row in await cursor.fetchall()]

    async def insert_selected(
        self, connection: AsyncConnection[Any], collection: str, select: str,
        params: Mapping[str, Any], version: int,
    ) -> int:  # fmt: skip
        """Write the documents a SELECT of `(id, body)` yields (bodies already encoded, with
        `tenant_id`), in the caller's transaction and tenant: a rebuild's bulk path, where the
        server builds the documents and they never come to Python."""
        cursor = await connection.execute(
            "INSERT INTO documents (tenant_id, collection, id, body, version)"
            " SELECT app_current_tenant(), %(collection)s, d.id, d.body, %(version)s"
            f" FROM ({select}) AS d(id, body)"
            " ON CONFLICT (tenant_id, collection, id) DO UPDATE"
            " SET body = EXCLUDED.body, version = EXCLUDED.version"
            " WHERE documents.version <= EXCLUDED.version",
            {**params, "collection": collection, "version": version},
        )
        return max(cursor.rowcount, 0)

    async def clear(self, tenant_id: UUID, collection: str) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            await uow.connection.execute(
                "DELETE FROM documents WHERE collection = %s", (collection,)
            )
            await uow.commit()
