"""Turn PostgreSQL integrity errors into typed domain errors a person can act on.

Constraint names follow one convention (`<table>_<column>_key`, `<table>_tenant_id_<column>_fkey`,
`<table>_<rule>`), so most messages are derived; the rest are spelled out below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg

from polyshop.domain.errors import (
    ConflictError,
    InsufficientStockError,
    NotFoundError,
    PolyshopError,
    ValidationError,
)

_SPELLED_OUT: dict[str, str] = {
    "users_email_key": "an account with this email already exists",
    "user_addresses_one_default_key": "only one default address per type",
    "product_images_one_primary_key": "a product has one primary image",
    "reviews_one_per_order_key": "this customer already reviewed this product for this order",
    "categories_no_cycle": "a category cannot be moved under itself or one of its descendants",
    "products_stock_location": "a product with variants keeps its stock on the variants",
    "orders_total_adds_up": "order total must equal subtotal + tax + shipping - discount",
    "payments_refunded_within_amount": "cannot refund more than was paid",
    "users_vendor_matches_role": "vendor staff need a vendor, and only vendor staff have one",
    "product_attributes_value_typed": "attribute value does not match its type",
}
_FK = re.compile(r"^(?P<table>[a-z_]+?)_tenant_id_(?P<column>[a-z_]+?)(_id)?_fkey$")
_KEY = re.compile(r"^(?P<table>[a-z_]+?)_(?P<column>[a-z_]+)_key$")


def _singular(table: str) -> str:
    word = table.replace("_", " ")
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if word.endswith("s") else word


def translate(error: psycopg.Error, field: str | None = None) -> PolyshopError | None:
    constraint = error.diag.constraint_name or ""
    if constraint in _SPELLED_OUT:
        kind = ConflictError if isinstance(error, pg.UniqueViolation) else ValidationError
        return kind(_SPELLED_OUT[constraint])
    if isinstance(error, pg.UniqueViolation):
        match = _KEY.match(constraint)
        if match:
            what, column = _singular(match["table"]), match["column"].replace("_", " ")
            return ConflictError(f"a {what} with this {column} already exists")
        return ConflictError(f"duplicate value ({constraint})")
    if isinstance(error, pg.ForeignKeyViolation):
        primary = error.diag.message_primary or ""
        match = _FK.match(constraint)
        if primary.startswith("update or delete"):
            table = (error.diag.table_name or "").replace("_", " ")
            return ConflictError(f"still in use by {table or 'other records'}; archive it instead")
        if match:
            return NotFoundError(f"{match['column'].replace('_', ' ')} not found")
        return NotFoundError(f"a referenced record does not exist ({constraint})")
    if isinstance(error, pg.CheckViolation):
        if constraint.endswith("_stock_not_oversold"):
            return InsufficientStockError([("stock", 0, 0)])
        # Our own words only: the server's text names relations and quotes values.
        return ValidationError(f"{constraint.replace('_', ' ')} is not met", field=field)
    if isinstance(error, pg.NotNullViolation):
        column = error.diag.column_name or field or "a field"
        return ValidationError(f"{column.replace('_', ' ')} is required", field=column)
    return _data_error(error, field)


def _data_error(error: psycopg.Error, field: str | None) -> PolyshopError | None:
    """A value the database cannot store or compare, in a message of our own naming the field
    where it is known (the column, or the input the caller said the statement stores)."""
    if not isinstance(error, psycopg.errors.DataError):
        return None
    field = error.diag.column_name or field
    what = field.replace("_", " ") if field else "a value"
    if isinstance(error, pg.StringDataRightTruncation):
        return ValidationError(f"{what} is longer than allowed", field=field)
    if isinstance(error, pg.NumericValueOutOfRange):
        return ValidationError(f"{what} is out of the range allowed", field=field)
    if isinstance(error, pg.UntranslatableCharacter | pg.CharacterNotInRepertoire):
        return ValidationError(f"{what} contains characters that cannot be stored", field=field)
    if error.diag.sqlstate is None and "NUL" in str(error):  # refused by psycopg itself
        return ValidationError(f"{what} must not contain NUL characters", field=field)
    # Any other (a malformed date or number): never the server's text, which quotes the input
    # and names types and columns.
    return ValidationError(f"{what} has the wrong format", field=field)


@contextmanager
def domain_errors(field: str | None = None) -> Iterator[None]:
    """Re-raise PostgreSQL data errors inside the block as domain errors; `field` names the
    input a data error is about when the server does not say (an expression, not a column)."""
    try:
        yield
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
        translated = translate(exc, field)
        if translated is None:
            raise
        raise translated from None
