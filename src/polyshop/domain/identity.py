"""Identity rules: what an email and a password must be."""

from __future__ import annotations

import re
from enum import StrEnum

from polyshop.domain.errors import ValidationError

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


def normalise_email(raw: str) -> str:
    """Trimmed and lowercased: one account per address, whatever its capitalisation."""
    email = raw.strip().lower()
    if len(email) > 255 or not _EMAIL.match(email):
        raise ValidationError(f"{raw!r} is not a valid email address", field="email")
    return email


def validate_password(password: str, *, email: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"password must be at least {MIN_PASSWORD} characters", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationError(
            f"password must be at most {MAX_PASSWORD} characters", field="password"
        )
    if password.lower() == email.lower() or password.lower() == email.split("@")[0]:
        raise ValidationError("password must not be your email address", field="password")


class Role(StrEnum):
    """Who a user of a shop is (users.role)."""

    CUSTOMER = "customer"
    VENDOR_STAFF = "vendor_staff"
    TENANT_ADMIN = "tenant_admin"


class Permission(StrEnum):
    """What a role may do; a route asks for one (`Allowed(Permission.WRITE_CATALOG)`)."""

    READ_PROFILE = "read:profile"
    WRITE_PROFILE = "write:profile"
    READ_ORDERS = "read:orders"
    WRITE_ORDERS = "write:orders"
    WRITE_CART = "write:cart"
    WRITE_REVIEWS = "write:reviews"
    READ_PRODUCTS = "read:products"
    WRITE_PRODUCTS = "write:products"
    READ_ORDER_LINES = "read:order_lines"
    WRITE_CATALOG = "write:catalog"
    READ_ALL_ORDERS = "read:all_orders"
    WRITE_FULFILMENT = "write:fulfilment"
    WRITE_REFUNDS = "write:refunds"
    WRITE_CONTENT = "write:content"
    MODERATE_REVIEWS = "moderate:reviews"
    READ_CUSTOMERS = "read:customers"
    MANAGE_STAFF = "manage:staff"
    READ_ANALYTICS = "read:analytics"


P = Permission
# What each role may do; sessions carry these (the spec's `permissions`). Vendor staff are
# further limited to their own vendor's products and order lines (`polyshop.domain.access`).
ROLE_PERMISSIONS: dict[Role, tuple[Permission, ...]] = {
    Role.CUSTOMER: (
        P.READ_PROFILE, P.WRITE_PROFILE, P.READ_ORDERS, P.WRITE_ORDERS, P.WRITE_CART,
        P.WRITE_REVIEWS,
    ),
    Role.VENDOR_STAFF: (
        P.READ_PROFILE, P.WRITE_PROFILE, P.READ_PRODUCTS, P.WRITE_PRODUCTS, P.READ_ORDER_LINES,
    ),
    Role.TENANT_ADMIN: (
        P.READ_PROFILE, P.WRITE_PROFILE, P.READ_PRODUCTS, P.WRITE_PRODUCTS, P.WRITE_CATALOG,
        P.READ_ORDERS, P.WRITE_ORDERS, P.READ_ALL_ORDERS, P.WRITE_FULFILMENT, P.WRITE_REFUNDS,
        P.WRITE_CONTENT, P.MODERATE_REVIEWS, P.READ_CUSTOMERS, P.MANAGE_STAFF, P.READ_ANALYTICS,
    ),
}  # fmt: skip
del P


def permissions_for(role: str) -> list[str]:
    """The permission names of a role (none for a name that is no role)."""
    try:
        return [str(p) for p in ROLE_PERMISSIONS[Role(role)]]
    except ValueError:
        return []
