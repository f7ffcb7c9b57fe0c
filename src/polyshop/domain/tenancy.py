"""Tenant identity rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from polyshop.domain.errors import ValidationError

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def normalise_slug(raw: str) -> str:
    slug = raw.strip().lower()
    if not _SLUG.match(slug):
        raise ValidationError(
            f"slug {raw!r} must be 1-63 lowercase letters, digits or inner hyphens", field="slug"
        )
    return slug


def normalise_currency(raw: str) -> str:
    currency = raw.strip().upper()
    if not _CURRENCY.match(currency):
        raise ValidationError(
            f"currency {raw!r} must be a three-letter ISO 4217 code", field="currency"
        )
    return currency


# What the platform operator can set a shop to (tenants_status_valid in the schema).
TenantStatus = Literal["active", "suspended", "closed"]


@dataclass(frozen=True, slots=True)
class Tenant:
    id: UUID
    slug: str
    name: str
    currency: str
    status: str
    created_at: datetime
