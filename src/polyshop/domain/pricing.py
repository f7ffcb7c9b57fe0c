"""What an order costs: computed on the server from current prices and the tenant's rules.

The rules live in `tenants.settings`:

    {"tax": {"default_rate": "0.00", "rates": {"US": "0.0825"}, "shipping_taxable": false},
     "shipping": {"standard": {"price": "5.00", "free_over": "100.00"}, "express": {"price": "15.00"}},
     "discounts": {"WELCOME10": {"type": "percent", "value": "10", "min_subtotal": "20.00"},
                   "FIVEOFF": {"type": "fixed", "value": "5.00"}}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from polyshop.domain.errors import ValidationError
from polyshop.domain.money import ZERO, parse_money, parse_rate, round_money

DEFAULT_SHIPPING = "standard"


@dataclass(frozen=True, slots=True)
class PricedLine:
    product_id: UUID
    variant_id: UUID | None
    name: str
    sku: str
    quantity: int
    unit_price: Decimal
    taxable: bool = True
    requires_shipping: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class ShippingMethod:
    code: str
    price: Decimal
    free_over: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Discount:
    code: str
    kind: Literal["percent", "fixed"]
    value: Decimal
    min_subtotal: Decimal = ZERO

    def amount_for(self, subtotal: Decimal) -> Decimal:
        if subtotal < self.min_subtotal:
            raise ValidationError(
                f"discount {self.code} needs a subtotal of at least {self.min_subtotal}",
                field="discount_code",
            )
        raw = subtotal * self.value / 100 if self.kind == "percent" else self.value
        return min(round_money(raw), subtotal)


@dataclass(frozen=True, slots=True)
class PricingRules:
    default_tax_rate: Decimal = ZERO
    tax_rates: Mapping[str, Decimal] = field(default_factory=dict)
    shipping_taxable: bool = False
    shipping_methods: Mapping[str, ShippingMethod] = field(
        default_factory=lambda: {DEFAULT_SHIPPING: ShippingMethod(DEFAULT_SHIPPING, ZERO)}
    )
    discounts: Mapping[str, Discount] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> PricingRules:
        tax = settings.get("tax", {})
        shipping = settings.get("shipping") or {DEFAULT_SHIPPING: {"price": "0.00"}}
        discounts = settings.get("discounts", {})
        return cls(
            default_tax_rate=parse_rate(tax.get("default_rate", "0"), field="tax.default_rate"),
            tax_rates={
                country.upper(): parse_rate(rate, field=f"tax.rates.{country}")
                for country, rate in tax.get("rates", {}).items()
            },
            shipping_taxable=bool(tax.get("shipping_taxable", False)),
            shipping_methods={
                code: ShippingMethod(
                    code,
                    parse_money(spec["price"], field=f"shipping.{code}.price"),
                    parse_money(spec["free_over"], field=f"shipping.{code}.free_over")
                    if spec.get("free_over") is not None
                    else None,
                )
                for code, spec in shipping.items()
            },
            discounts={
                code.upper(): Discount(
                    code.upper(),
                    _discount_kind(spec.get("type"), code),
                    Decimal(str(spec["value"])),
                    parse_money(
                        spec.get("min_subtotal", "0"), field=f"discounts.{code}.min_subtotal"
                    ),
                )
                for code, spec in discounts.items()
            },
        )

    def tax_rate(self, country: str) -> Decimal:
        return self.tax_rates.get(country.upper(), self.default_tax_rate)


def _discount_kind(kind: object, code: str) -> Literal["percent", "fixed"]:
    if kind == "percent":
        return "percent"
    if kind == "fixed":
        return "fixed"
    raise ValidationError(f"discount {code} has unknown type {kind!r}", field="discounts")


@dataclass(frozen=True, slots=True)
class Quote:
    lines: tuple[PricedLine, ...]
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    shipping_method: str | None
    discount_code: str | None

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.tax + self.shipping - self.discount


def quote(
    lines: Sequence[PricedLine],
    rules: PricingRules,
    *,
    country: str,
    shipping_method: str | None = None,
    discount_code: str | None = None,
) -> Quote:
    if not lines:
        raise ValidationError("an order needs at least one line", field="lines")
    subtotal = sum((line.total for line in lines), ZERO)

    discount = ZERO
    code = discount_code.strip().upper() if discount_code else None
    if code:
        found = rules.discounts.get(code)
        if found is None:
            raise ValidationError(f"unknown discount code {discount_code!r}", field="discount_code")
        discount = found.amount_for(subtotal)

    shipping = ZERO
    method_code: str | None = None
    if any(line.requires_shipping for line in lines):
        method_code = shipping_method or DEFAULT_SHIPPING
        method = rules.shipping_methods.get(method_code)
        if method is None:
            known = ", ".join(sorted(rules.shipping_methods))
            raise ValidationError(
                f"unknown shipping method {method_code!r} (this shop offers: {known})",
                field="shipping_method",
            )
        free = method.free_over is not None and subtotal - discount >= method.free_over
        shipping = ZERO if free else method.price

    # Tax on the taxable share of the discounted goods (and shipping where the shop says so),
    # rounded once.
    taxable = sum((line.total for line in lines if line.taxable), ZERO)
    taxable_after_discount = taxable - (discount * taxable / subtotal if subtotal else ZERO)
    base = taxable_after_discount + (shipping if rules.shipping_taxable else ZERO)
    tax = round_money(base * rules.tax_rate(country))

    return Quote(
        lines=tuple(lines),
        subtotal=subtotal,
        discount=discount,
        shipping=shipping,
        tax=tax,
        shipping_method=method_code,
        discount_code=code,
    )
