"""Routine upkeep, run as the owner (it creates partitions and sees every tenant)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from polyshop.adapters.postgres._provision import OWNER_ROLE


@dataclass(frozen=True, slots=True)
class MaintenanceReport:
    partitions_created: int
    idempotency_keys_purged: int


def maintain(admin_url: str, *, months_ahead: int = 3) -> MaintenanceReport:
    """Create the analytics partitions for this month and `months_ahead` more (so inserts never
    land in the default partition), purge expired idempotency keys, refresh planner statistics."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(OWNER_ROLE)))
        row = conn.execute(
            "SELECT analytics_ensure_partitions(now(), %s)", (months_ahead + 1,)
        ).fetchone()
        purged = conn.execute("DELETE FROM idempotency_keys WHERE expires_at < now()").rowcount
        conn.execute("ANALYZE")
    assert row is not None
    return MaintenanceReport(int(row[0]), max(purged, 0))
