"""The GIN index on document bodies, which row-level security never let a query use, goes.

Revision ID: 0013
Revises: 0010
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
