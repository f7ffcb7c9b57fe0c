"""The order, payment, shipping and refund statuses are named once, in `domain.orders`: each enum
holds exactly the values its column's CHECK constraint allows (read from PostgreSQL's catalog,
so a migration that changes one without the other fails here), and psycopg sends a member as
its value, as text, like the plain string it replaced."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

import psycopg
import pytest

from polyshop.domain.orders import (
    OrderStatus,
    PaymentRecordStatus,
    PaymentStatus,
    RefundStatus,
    ShippingStatus,
)

# The enum, the table and the CHECK constraint that lists its column's values.
NAMED: list[tuple[type[StrEnum], str, str]] = [
    (OrderStatus, "orders", "orders_status_valid"),
    (PaymentStatus, "orders", "orders_payment_status_valid"),
    (ShippingStatus, "orders", "orders_shipping_status_valid"),
    (PaymentRecordStatus, "payments", "payments_status_valid"),
    (RefundStatus, "refunds", "refunds_status_valid"),
]


def _allowed(admin: psycopg.Connection[Any], table: str, constraint: str) -> set[str]:
    row = admin.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND conname = %s AND contype = 'c'",
        (table, constraint),
    ).fetchone()
    assert row is not None, f"{table} has no CHECK constraint {constraint}"
    # PostgreSQL prints `col IN (...)` as `(col)::text = ANY (ARRAY['a'::character varying, ...])`.
    definition = row[0]
    assert re.search(r"= ANY \(\(?ARRAY\[", definition), definition
    return set(re.findall(r"'([^']*)'::", definition))


@pytest.mark.parametrize(("names", "table", "constraint"), NAMED, ids=[c for *_, c in NAMED])
def test_each_status_enum_is_what_its_check_constraint_allows(
    admin: psycopg.Connection[Any], names: type[StrEnum], table: str, constraint: str
) -> None:
    assert {member.value for member in names} == _allowed(admin, table, constraint)


@pytest.mark.parametrize("names", [names for names, *_ in NAMED], ids=lambda n: n.__name__)
def test_a_member_is_sent_to_postgresql_as_its_value(
    admin: psycopg.Connection[Any], names: type[StrEnum]
) -> None:
    members = list(names)
    for member in members:
        # Its value, not its name (what psycopg's dumper for a plain Enum would send).
        assert admin.execute("SELECT %s", (member,)).fetchone() == (member.value,)
    # As a list too (`status = ANY(%s)`).
    row = admin.execute("SELECT %s::text[]", (members,)).fetchone()
    assert row == ([member.value for member in members],)
