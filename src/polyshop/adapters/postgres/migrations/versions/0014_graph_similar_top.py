"""SIMILAR_TO keeps each product's best K: an index on a product's similar products in their
ranked order (the `similar` read and the incremental projector's k-th lookup).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
