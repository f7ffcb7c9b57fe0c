from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from polyshop.adapters.postgres._json import dumps
from polyshop.domain.errors import ValidationError
from polyshop.domain.tenancy import normalise_currency, normalise_slug


@pytest.mark.parametrize(("raw", "slug"), [("Acme", "acme"), (" my-shop ", "my-shop"), ("a", "a")])
def test_slugs_are_normalised(raw: str, slug: str) -> None:
    assert normalise_slug(raw) == slug


@pytest.mark.parametrize("raw", ["", "-acme", "acme-", "ac me", "a_b", "x" * 64, "shöp"])
def test_bad_slugs_are_refused_with_the_field_named(raw: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalise_slug(raw)
    assert caught.value.field == "slug"


def test_currencies_are_iso_codes() -> None:
    assert normalise_currency(" eur ") == "EUR"
    with pytest.raises(ValidationError):
        normalise_currency("EURO")


def test_json_keeps_money_exact() -> None:
    encoded = dumps(
        {
            "price": Decimal("0.10") + Decimal("0.20"),
            "id": UUID(int=1),
            "at": datetime(2026, 1, 2, tzinfo=UTC),
        }
    )
    assert json.loads(encoded) == {
        "price": "0.30",
        "id": "00000000-0000-0000-0000-000000000001",
        "at": "2026-01-02T00:00:00+00:00",
    }


def test_json_refuses_what_it_cannot_represent_exactly() -> None:
    with pytest.raises(TypeError):
        dumps({"value": object()})
