"""Analytics: the PostgreSQL twin of the Cassandra tables (event columns, rollups).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
