"""Commerce core: product search and per-tenant order numbers.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
