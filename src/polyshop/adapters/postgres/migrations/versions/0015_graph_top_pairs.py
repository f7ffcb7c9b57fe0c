"""The twin's bought-together and also-bought reads walk the first N entries of an index (issue 12).

Revision ID: 0015
Revises: 0017
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0015"
down_revision = "0017"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
