"""Document lookups that an index can serve under row-level security.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
