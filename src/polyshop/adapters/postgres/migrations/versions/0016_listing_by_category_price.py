"""Listings of a category subtree sorted by price read a few index entries per category: prices
in whole cents (bigint, whose comparisons are leakproof) and an index by tenant, status,
category and price.

Revision ID: 0016
Revises: 0014
"""

from __future__ import annotations

from polyshop.adapters.postgres._migrations import sql_file_migration

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None

upgrade, downgrade = sql_file_migration(__file__)
