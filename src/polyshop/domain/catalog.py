"""Catalog rules: product lifecycle, typed attributes, slugs."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from polyshop.domain.errors import InvalidTransitionError, ValidationError


class ProductStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    INACTIVE = "inactive"
    ARCHIVED = "archived"


_LIFECYCLE: dict[ProductStatus, frozenset[ProductStatus]] = {
    ProductStatus.DRAFT: frozenset({ProductStatus.ACTIVE, ProductStatus.ARCHIVED}),
    ProductStatus.ACTIVE: frozenset({ProductStatus.INACTIVE, ProductStatus.ARCHIVED}),
    ProductStatus.INACTIVE: frozenset({ProductStatus.ACTIVE, ProductStatus.ARCHIVED}),
    ProductStatus.ARCHIVED: frozenset({ProductStatus.DRAFT}),
}


def check_product_transition(current: ProductStatus, target: ProductStatus) -> None:
    if target not in _LIFECYCLE[current]:
        allowed = ", ".join(sorted(_LIFECYCLE[current]))
        raise InvalidTransitionError(
            f"a product that is {current} cannot become {target} (allowed: {allowed})"
        )


def line_name(product_name: str, variant_title: str | None) -> str:
    """What a cart or order line is called: the product, and the variant's title if chosen."""
    return product_name if variant_title is None else f"{product_name} - {variant_title}"


def is_for_sale(product_status: str, variant_active: bool | None = None) -> bool:
    """A line can be sold when its product is active and, when a variant is chosen
    (`variant_active` not None), that variant is active too."""
    return product_status == ProductStatus.ACTIVE and variant_active is not False


def without_purchase_cost(product: dict[str, Any]) -> dict[str, Any]:
    """A product as shoppers may see it: the shop's purchase cost is its own business. Takes
    the row shape (`cost_price`) and the document shape (`pricing.costPrice`)."""
    shown = {k: v for k, v in product.items() if k != "cost_price"}
    pricing = shown.get("pricing")
    if isinstance(pricing, dict):
        shown["pricing"] = {k: v for k, v in pricing.items() if k != "costPrice"}
    return shown


ATTRIBUTE_TYPES = ("text", "number", "boolean", "date", "url")
_URL = re.compile(r"^https?://\S+$")


def normalise_attribute(kind: str, value: object) -> str:
    """The stored text form of an attribute value, checked against its declared type."""
    if kind not in ATTRIBUTE_TYPES:
        raise ValidationError(
            f"attribute type {kind!r} is not one of {', '.join(ATTRIBUTE_TYPES)}", field="type"
        )
    if kind == "boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
        if str(value).lower() in ("true", "false"):
            return str(value).lower()
    elif kind == "number":
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            pass
        else:
            if number.is_finite() and not isinstance(value, bool):
                text = format(number.normalize(), "f")
                return text if "." not in text else text.rstrip("0").rstrip(".")
    elif kind == "date":
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            pass
    elif kind == "url":
        if _URL.match(str(value)):
            return str(value)
    else:
        return str(value)
    raise ValidationError(f"{value!r} is not a valid {kind}", field="value")


def slug_words(text: str) -> str:
    """`text` folded to lowercase ASCII, every run of other characters one `-`, none at either
    end. May be empty and has no length limit: `slugify` checks both for a stored slug."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def slugify(text: str) -> str:
    slug = slug_words(text)
    if not slug:
        raise ValidationError(f"cannot derive a slug from {text!r}; give one", field="slug")
    return slug[:100].rstrip("-")
