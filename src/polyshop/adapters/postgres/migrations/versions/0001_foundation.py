"""Foundation: the multi-tenant schema of the spec, row-level security and privileges.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from pathlib import Path

from alembic import op

from polyshop.adapters.postgres._migrations import run_sql_file

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_HERE = Path(__file__).with_suffix("")


def upgrade() -> None:
    run_sql_file(op.get_bind(), _HERE.with_name(_HERE.name + ".up.sql"))


def downgrade() -> None:
    run_sql_file(op.get_bind(), _HERE.with_name(_HERE.name + ".down.sql"))
