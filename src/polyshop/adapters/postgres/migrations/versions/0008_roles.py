"""Least privilege: one database role per job (request serving, relay, platform operator).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
