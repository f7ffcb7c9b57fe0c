from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from polyshop.codec import dumps
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


def test_who_owns_a_new_product() -> None:
    from uuid import uuid4

    from polyshop.domain.access import vendor_of_new_product
    from polyshop.domain.errors import ForbiddenError, ValidationError

    own, other = uuid4(), uuid4()
    assert vendor_of_new_product("vendor_staff", own, None) == own
    assert vendor_of_new_product("vendor_staff", own, own) == own
    with pytest.raises(ForbiddenError):
        vendor_of_new_product("vendor_staff", own, other)
    assert vendor_of_new_product("tenant_admin", None, other) == other
    with pytest.raises(ValidationError, match="vendor_id"):
        vendor_of_new_product("tenant_admin", None, None)


def test_who_sees_and_manages_a_product() -> None:
    from uuid import uuid4

    from polyshop.domain.access import manages_product, product_visible

    own, other = uuid4(), uuid4()
    assert manages_product("tenant_admin", None, other)
    assert manages_product("vendor_staff", own, str(own))
    assert not manages_product("vendor_staff", own, other)
    assert not manages_product("customer", None, other)
    assert product_visible("active", None, None, other)
    for status in ("draft", "inactive", "archived"):
        assert not product_visible(status, None, None, other)
        assert not product_visible(status, "customer", None, other)
        assert not product_visible(status, "vendor_staff", own, other)
        assert product_visible(status, "vendor_staff", own, own)
        assert product_visible(status, "tenant_admin", None, other)
