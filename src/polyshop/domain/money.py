"""Money is Decimal, end to end; amounts are rounded to cents half-up, once, where it is due."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from polyshop.domain.errors import ValidationError

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("9999999999.99")  # numeric(12, 2)


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_money(raw: Decimal | str | int, *, field: str = "amount") -> Decimal:
    """A non-negative amount with at most two decimals; floats are refused, not rounded."""
    if isinstance(raw, float):
        raise ValidationError(f"{field} must be a decimal string, not a float", field=field)
    try:
        value = Decimal(raw)
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError(f"{field} {raw!r} is not a number", field=field) from None
    if not value.is_finite():
        raise ValidationError(f"{field} must be a finite number", field=field)
    if value < 0:
        raise ValidationError(f"{field} must not be negative", field=field)
    if value > MAX_AMOUNT:
        raise ValidationError(f"{field} {value} is too large", field=field)
    if value != value.quantize(CENT):
        raise ValidationError(f"{field} {value} has more than two decimals", field=field)
    return value.quantize(CENT)


def parse_rate(raw: Decimal | str | int, *, field: str) -> Decimal:
    """A rate between 0 and 1, such as a tax rate of 0.0825."""
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{field} {raw!r} is not a number", field=field) from None
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        raise ValidationError(f"{field} must be between 0 and 1", field=field)
    return value
