"""Sync: document store, relay checkpoints and parked events.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
