"""Identity rules: what an email and a password must be."""

from __future__ import annotations

import re

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


# What each role may do; sessions carry these (the spec's `permissions`). Vendor staff are
# further limited to their own vendor's products and order lines (`polyshop.domain.access`).
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "customer": (
        "read:profile", "write:profile", "read:orders", "write:orders", "write:cart",
        "write:reviews",
    ),
    "vendor_staff": (
        "read:profile", "write:profile", "read:products", "write:products", "read:order_lines",
    ),
    "tenant_admin": (
        "read:profile", "write:profile", "read:products", "write:products", "write:catalog",
        "read:orders", "write:orders", "read:all_orders", "write:fulfilment", "write:refunds",
        "write:content", "moderate:reviews", "read:customers", "manage:staff", "read:analytics",
    ),
}  # fmt: skip


def permissions_for(role: str) -> list[str]:
    return list(ROLE_PERMISSIONS.get(role, ()))
