"""Pricing is pure: checked with examples and with generated orders."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyshop.domain.errors import ValidationError
from polyshop.domain.money import CENT, parse_money
from polyshop.domain.pricing import PricedLine, PricingRules, quote

RULES = PricingRules.from_settings(
    {
        "tax": {"default_rate": "0.0825", "rates": {"DE": "0.19"}, "shipping_taxable": True},
        "shipping": {"standard": {"price": "4.99", "free_over": "50.00"}},
        "discounts": {"HALF": {"type": "percent", "value": "50"},
                      "TEN": {"type": "fixed", "value": "10.00", "min_subtotal": "30.00"}},
    }
)  # fmt: skip


def line(price: str, quantity: int = 1, **flags: bool) -> PricedLine:
    return PricedLine(uuid4(), None, "x", "SKU", quantity, Decimal(price), **flags)


def test_tax_rounds_half_up_once_on_the_whole_base() -> None:
    # 3 x 3.33 = 9.99, + 4.99 taxable shipping = 14.98; 8.25% = 1.23585 -> 1.24
    q = quote([line("3.33", 3)], RULES, country="US")
    assert (q.subtotal, q.shipping, q.tax, q.total) == (
        Decimal("9.99"), Decimal("4.99"), Decimal("1.24"), Decimal("16.22"),
    )  # fmt: skip


def test_free_shipping_uses_the_discounted_subtotal() -> None:
    assert quote([line("60.00")], RULES, country="US").shipping == Decimal("0.00")
    assert quote([line("60.00")], RULES, country="US", discount_code="half").shipping == Decimal(
        "4.99"
    )


def test_a_fixed_discount_never_exceeds_the_subtotal_and_needs_its_minimum() -> None:
    rules = PricingRules.from_settings({"discounts": {"BIG": {"type": "fixed", "value": "100.00"}}})
    q = quote([line("30.00")], rules, country="US", discount_code="BIG")
    assert (q.discount, q.total) == (Decimal("30.00"), Decimal("0.00"))
    with pytest.raises(ValidationError, match=r"at least 30\.00"):
        quote([line("29.99")], RULES, country="US", discount_code="TEN")


@pytest.mark.parametrize(
    "settings",
    [
        {"tax": {"default_rate": "1.5"}},
        {"shipping": {"standard": {"price": "-1"}}},
        {"discounts": {"X": {"type": "bogo", "value": "1"}}},
        {"shipping": {"standard": {"price": 4.99}}},
    ],
)
def test_bad_rules_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PricingRules.from_settings(settings)


def test_money_is_parsed_strictly() -> None:
    assert parse_money("19.9") == Decimal("19.90")
    for bad in ("1e400", "NaN", "-0.01", "0.001", "abc", 0.1):
        with pytest.raises(ValidationError):
            parse_money(bad)  # type: ignore[arg-type]


prices = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("500.00"), places=2)
lines = st.lists(
    st.builds(
        lambda price, quantity, taxable, shipping: PricedLine(
            uuid4(), None, "x", "SKU", quantity, price, taxable, shipping
        ),
        prices, st.integers(1, 20), st.booleans(), st.booleans(),
    ),
    min_size=1,
    max_size=8,
)  # fmt: skip


@given(lines, st.sampled_from([None, "HALF", "TEN"]), st.sampled_from(["US", "DE", "FR"]))
def test_every_quote_adds_up_to_the_cent(
    order: list[PricedLine], code: str | None, country: str
) -> None:
    try:
        q = quote(order, RULES, country=country, discount_code=code)
    except ValidationError:
        assert code == "TEN"
        return
    assert q.subtotal == sum(l.unit_price * l.quantity for l in order)  # noqa: E741
    assert Decimal(0) <= q.discount <= q.subtotal
    assert q.tax >= 0
    assert q.total == q.subtotal + q.tax + q.shipping - q.discount
    assert q.total >= 0
    for amount in (q.subtotal, q.discount, q.shipping, q.tax, q.total):
        assert amount == amount.quantize(CENT)
    if not any(l.requires_shipping for l in order):  # noqa: E741
        assert q.shipping == 0
