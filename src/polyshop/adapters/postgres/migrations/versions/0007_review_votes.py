"""Helpful votes: one row per account and review, the count derived from them.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
