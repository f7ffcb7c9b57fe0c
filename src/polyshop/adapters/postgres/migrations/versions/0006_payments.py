"""Payments in durable steps: reservation deadlines, declined payments, refunds, webhook events.

Revision ID: 0006
Revises: 0004
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
