"""Foundation: the multi-tenant schema of the spec, row-level security and privileges.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
