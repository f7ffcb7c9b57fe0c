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
