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


def translate(error: psycopg.Error) -> PolyshopError | None:
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
        return ValidationError(f"{constraint.replace('_', ' ')} ({error.diag.message_primary})")
    if isinstance(error, pg.NotNullViolation):
        column = error.diag.column_name or "a field"
        return ValidationError(f"{column.replace('_', ' ')} is required", field=column)
    if isinstance(error, pg.StringDataRightTruncation):
        return ValidationError("a value is longer than its field allows")
    if isinstance(error, pg.InvalidTextRepresentation | pg.NumericValueOutOfRange):
        return ValidationError(error.diag.message_primary or "a value has the wrong format")
    if isinstance(error, psycopg.errors.DataError):
        # Any other value PostgreSQL cannot store (a NUL character, an unpaired surrogate).
        return ValidationError(f"a value cannot be stored: {error.diag.message_primary or error}")
    return None


@contextmanager
def domain_errors() -> Iterator[None]:
    """Re-raise PostgreSQL data errors inside the block as domain errors."""
    try:
        yield
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
        translated = translate(exc)
        if translated is None:
            raise
        raise translated from None
