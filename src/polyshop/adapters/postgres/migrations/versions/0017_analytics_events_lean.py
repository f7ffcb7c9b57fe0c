"""Three indexes of analytics_events that no query reads go: every event paid for them.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
