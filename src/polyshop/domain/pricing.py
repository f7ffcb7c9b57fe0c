"""What an order costs: computed on the server from current prices and the tenant's rules.

The rules live in `tenants.settings`:

    {"tax": {"default_rate": "0.00", "rates": {"US": "0.0825"}, "shipping_taxable": false},
     "shipping": {"standard": {"price": "5.00", "free_over": "100.00"}, "express": {"price": "15.00"}},
     "discounts": {"WELCOME10": {"type": "percent", "value": "10", "min_subtotal": "20.00"},
                   "FIVEOFF": {"type": "fixed", "value": "5.00"}}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from polyshop.domain.errors import ShopMisconfiguredError, ValidationError
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
        """The rules from a shop's settings document, checked completely: every value has its
        type and range and nothing unknown is accepted, so a document that passes can price
        every order (checkout reads stored settings through here too, never trusting them)."""
        # `payments` (the shop's gateway) is checked by the payments service, not here.
        root = _mapping(settings, "settings", {"tax", "shipping", "discounts", "payments"})
        tax = _mapping(root.get("tax", {}), "tax", {"default_rate", "rates", "shipping_taxable"})
        shipping = _mapping(
            root.get("shipping") or {DEFAULT_SHIPPING: {"price": "0.00"}}, "shipping"
        )
        discounts = _mapping(root.get("discounts", {}), "discounts")
        shipping_taxable = tax.get("shipping_taxable", False)
        if not isinstance(shipping_taxable, bool):
            raise ValidationError("must be true or false", field="tax.shipping_taxable")
        return cls(
            default_tax_rate=parse_rate(tax.get("default_rate", "0"), field="tax.default_rate"),
            tax_rates={
                _code(country, "tax.rates").upper(): parse_rate(rate, field=f"tax.rates.{country}")
                for country, rate in _mapping(tax.get("rates", {}), "tax.rates").items()
            },
            shipping_taxable=shipping_taxable,
            shipping_methods={
                _code(code, "shipping"): _shipping_method(code, spec)
                for code, spec in shipping.items()
            },
            discounts={
                _code(code, "discounts").upper(): _discount(code, spec)
                for code, spec in discounts.items()
            },
        )

    @classmethod
    def from_stored(cls, settings: Mapping[str, Any]) -> PricingRules:
        """The rules from settings read back from the store: checked like new ones, and a
        document that fails (written before the check, or by hand) refuses the sale as the
        shop's fault, not the customer's input."""
        try:
            return cls.from_settings(settings)
        except ValidationError as error:
            raise ShopMisconfiguredError(
                "this shop cannot take orders until it corrects its checkout rules",
                reason=f"{error.field}: {error}",
            ) from None

    def tax_rate(self, country: str) -> Decimal:
        return self.tax_rates.get(country.upper(), self.default_tax_rate)


_CODE = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
_HUNDRED = Decimal(100)


def _mapping(value: object, field: str, allowed: set[str] | None = None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{field} must be an object", field=field)
    unknown = set(value) - allowed if allowed is not None else set()
    if unknown:
        name = min(unknown)
        raise ValidationError(f"unknown setting {name!r}", field=f"{field}.{name}")
    return value


def _code(code: str, field: str) -> str:
    if not _CODE.match(code):
        raise ValidationError(
            "codes are 1 to 50 letters, digits, '-' or '_'", field=f"{field}.{code[:50]}"
        )
    return code


def _text(value: object, field: str) -> str:
    # Decimal strings only: a JSON number could have been a binary float on its way here.
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a decimal string", field=field)
    return value


def _shipping_method(code: str, spec: object) -> ShippingMethod:
    field = f"shipping.{code}"
    spec = _mapping(spec, field, {"price", "free_over"})
    if "price" not in spec:
        raise ValidationError("a shipping method needs a price", field=f"{field}.price")
    free_over = spec.get("free_over")
    return ShippingMethod(
        code,
        parse_money(_text(spec["price"], f"{field}.price"), field=f"{field}.price"),
        None
        if free_over is None
        else parse_money(_text(free_over, f"{field}.free_over"), field=f"{field}.free_over"),
    )


def _discount(code: str, spec: object) -> Discount:
    field = f"discounts.{code}"
    spec = _mapping(spec, field, {"type", "value", "min_subtotal"})
    kind = _discount_kind(spec.get("type"), code)
    if "value" not in spec:
        raise ValidationError("a discount needs a value", field=f"{field}.value")
    value = parse_money(_text(spec["value"], f"{field}.value"), field=f"{field}.value")
    if value <= 0 or (kind == "percent" and value > _HUNDRED):
        limits = "more than 0 and at most 100" if kind == "percent" else "more than 0"
        raise ValidationError(f"a {kind} discount must be {limits}", field=f"{field}.value")
    minimum = spec.get("min_subtotal", "0")
    return Discount(
        code.upper(), kind, value,
        parse_money(_text(minimum, f"{field}.min_subtotal"), field=f"{field}.min_subtotal"),
    )  # fmt: skip


def _discount_kind(kind: object, code: str) -> Literal["percent", "fixed"]:
    if kind == "percent":
        return "percent"
    if kind == "fixed":
        return "fixed"
    raise ValidationError(
        f"discount {code} has unknown type {kind!r} (percent or fixed)",
        field=f"discounts.{code}.type",
    )


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
