"""Graph: the recommendation graph's PostgreSQL twin, maintained by the graph projector.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
