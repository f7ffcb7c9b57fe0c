"""Analytics: a per-day product rollup whose top-N read is bounded by N (issue 15).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
