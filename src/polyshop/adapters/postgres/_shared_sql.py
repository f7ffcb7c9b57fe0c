"""SQL that several modules need, written once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from polyshop.ports import Checkpoint

# The category with this id and every category below it.
CATEGORY_SUBTREE = """
    WITH RECURSIVE subtree(id) AS (
        SELECT id FROM categories WHERE id = %s
        UNION
        SELECT c.id FROM categories c JOIN subtree s ON c.parent_id = s.id
    )
    SELECT id FROM subtree
"""

# The names from the root down to this category.
CATEGORY_PATH = """
    WITH RECURSIVE path(id, name, parent_id, depth) AS (
        SELECT id, name, parent_id, 0 FROM categories WHERE id = %s
        UNION ALL
        SELECT c.id, c.name, c.parent_id, p.depth + 1 FROM categories c JOIN path p ON c.id = p.parent_id
    )
    SELECT name FROM path ORDER BY depth DESC
"""


async def save_checkpoint(connection: psycopg.AsyncConnection[Any], checkpoint: Checkpoint) -> None:
    await connection.execute(
        "INSERT INTO sync_checkpoints (projector, transaction_id, event_id)"
        " VALUES (%s, %s::text::xid8, %s) ON CONFLICT (projector) DO UPDATE"
        " SET transaction_id = EXCLUDED.transaction_id, event_id = EXCLUDED.event_id",
        (checkpoint.projector, str(checkpoint.transaction_id), checkpoint.event_id),
    )


# For a statement whose only good plan walks an index in the order it returns (ORDER BY ...
# LIMIT over an index that yields that order): its one alternative is reading the rows some
# other way and sorting them, which the planner picks when its statistics put the rows at a
# handful (a shop's category not in the sample of a table shared by many shops). With sorts
# disabled for the statement's transaction, the ordered index is the only way left.
WALK_ONLY: Mapping[str, str] = {"enable_sort": "off"}


async def fetch_all(
    connection: psycopg.AsyncConnection[Any],
    statement: Any,
    params: Sequence[Any] | Mapping[str, Any],
    planner: Mapping[str, str] | None = None,
) -> list[Any]:
    """`statement`'s rows; `planner` settings (SET LOCAL: this transaction only) are sent in
    the same pipeline, without a round trip of their own."""
    if not planner:
        cursor = await connection.execute(statement, params)
        return await cursor.fetchall()
    async with connection.pipeline():
        for name, value in planner.items():
            await connection.execute("SELECT set_config(%s, %s, true)", (name, value))
        cursor = await connection.execute(statement, params)
    return await cursor.fetchall()
