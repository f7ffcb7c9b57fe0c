"""One contract for every PaymentGateway adapter: the durable test gateway and Stripe (against
stripe-mock, which validates every request against Stripe's OpenAPI spec but keeps no state
and answers with fixtures). What needs a gateway's memory (replays, retrieve by reference,
refunds bounded by the charge, voids) is checked where the gateway keeps one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from polyshop.adapters.payments import (
    DECLINING_METHOD,
    StripeGateway,
    TestPaymentGateway,
    minor_units,
)
from polyshop.domain.errors import ValidationError
from polyshop.ports import PaymentGateway, PaymentOutcome, PaymentResult

ADAPTERS = ["test", "stripe"]


@pytest.fixture(params=ADAPTERS)
async def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PaymentGateway]:
    if request.param == "test":
        gateway = TestPaymentGateway(tmp_path / "gateway.db")
        yield gateway
        gateway.close()
        return
    server: Any = request.getfixturevalue("stripe_mock")
    stripe = StripeGateway("sk_test_contract", api_base=server.url, timeout_seconds=10)
    yield stripe
    await stripe.aclose()


def _stateful(gateway: PaymentGateway) -> bool:
    return isinstance(gateway, TestPaymentGateway)


def _well_formed(result: PaymentResult) -> None:
    assert isinstance(result.outcome, PaymentOutcome)
    # A transaction id exactly when money moved.
    assert (result.transaction_id is not None) == (result.outcome is PaymentOutcome.APPROVED)
    assert isinstance(result.response, dict)


async def test_a_charge_is_accepted_and_answered_with_a_known_outcome(
    gateway: PaymentGateway,
) -> None:
    # Cents and all: Stripe takes minor units, and stripe-mock refuses anything not an integer.
    result = await gateway.charge(
        reference=str(uuid4()), amount=Decimal("10.50"), currency="USD", method="card"
    )
    _well_formed(result)
    if _stateful(gateway):
        assert result.outcome is PaymentOutcome.APPROVED


async def test_the_same_reference_never_charges_twice(gateway: PaymentGateway) -> None:
    reference = str(uuid4())
    first = await gateway.charge(
        reference=reference, amount=Decimal("20.00"), currency="USD", method="card"
    )
    again = await gateway.charge(
        reference=reference, amount=Decimal("20.00"), currency="USD", method="card"
    )
    assert again.outcome is first.outcome
    if _stateful(gateway):
        assert again.transaction_id == first.transaction_id
        assert [r.status for r in gateway.records()] == ["approved"]  # type: ignore[attr-defined]


async def test_a_declined_card_takes_no_money(gateway: PaymentGateway) -> None:
    result = await gateway.charge(
        reference=str(uuid4()), amount=Decimal("5.00"), currency="USD", method=DECLINING_METHOD
    )
    _well_formed(result)
    assert result.outcome is not PaymentOutcome.APPROVED


async def test_retrieve_answers_what_happened_to_a_reference(gateway: PaymentGateway) -> None:
    reference = str(uuid4())
    charged = await gateway.charge(
        reference=reference, amount=Decimal("7.00"), currency="USD", method="card"
    )
    found = await gateway.retrieve(reference=reference)
    assert found is not None
    _well_formed(found)
    if _stateful(gateway):
        assert (found.outcome, found.transaction_id) == (charged.outcome, charged.transaction_id)
        assert await gateway.retrieve(reference=str(uuid4())) is None


async def test_a_voided_reference_takes_no_money_even_if_it_arrives_later(
    gateway: PaymentGateway,
) -> None:
    charged, late = str(uuid4()), str(uuid4())
    await gateway.charge(reference=charged, amount=Decimal("9.00"), currency="USD", method="card")
    await gateway.void(reference=charged)
    await gateway.void(reference=late)  # never charged: accepted all the same
    if _stateful(gateway):
        found = await gateway.retrieve(reference=charged)
        assert found is not None and found.outcome is PaymentOutcome.FAILED
        arrived = await gateway.charge(
            reference=late, amount=Decimal("9.00"), currency="USD", method="card"
        )
        assert arrived.outcome is PaymentOutcome.FAILED


async def _transaction(gateway: PaymentGateway, amount: Decimal) -> str:
    if not _stateful(gateway):
        return "pi_contract"  # stripe-mock refunds any intent
    result = await gateway.charge(
        reference=str(uuid4()), amount=amount, currency="USD", method="card"
    )
    assert result.transaction_id is not None
    return result.transaction_id


async def test_a_refund_is_idempotent_by_its_reference(gateway: PaymentGateway) -> None:
    transaction = await _transaction(gateway, Decimal("30.00"))
    reference = str(uuid4())
    first = await gateway.refund(
        reference=reference, transaction_id=transaction, amount=Decimal("12.34"), currency="USD"
    )
    assert first.outcome is PaymentOutcome.APPROVED and first.transaction_id
    again = await gateway.refund(
        reference=reference, transaction_id=transaction, amount=Decimal("12.34"), currency="USD"
    )
    assert again.outcome is PaymentOutcome.APPROVED
    if _stateful(gateway):
        assert again.transaction_id == first.transaction_id
        (record,) = [r for r in gateway.records() if r.transaction_id == transaction]  # type: ignore[attr-defined]
        assert record.refunded == Decimal("12.34")
        beyond = await gateway.refund(
            reference=str(uuid4()), transaction_id=transaction, amount=Decimal("17.67"),
            currency="USD",
        )  # fmt: skip
        assert beyond.outcome is PaymentOutcome.DECLINED


def test_amounts_go_to_stripe_in_exact_minor_units() -> None:
    assert minor_units(Decimal("10.50"), "USD") == 1050
    assert minor_units(Decimal("1000"), "JPY") == 1000
    with pytest.raises(ValidationError):
        minor_units(Decimal("0.005"), "USD")
    with pytest.raises(ValidationError):
        minor_units(Decimal("10.5"), "JPY")
