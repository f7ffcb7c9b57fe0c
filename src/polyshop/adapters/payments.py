"""The built-in test payment gateway: deterministic outcomes chosen by the payment method.

`card` (or any other method) is approved, `card_declined` is declined, `card_error` fails.
It keeps its own record of charges, so it is idempotent per reference and refuses to refund
more than was charged, like a real gateway.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from polyshop.ports import PaymentOutcome, PaymentResult

DECLINING_METHOD = "card_declined"
FAILING_METHOD = "card_error"


class TestPaymentGateway:
    __test__ = False  # not a pytest test class
    name = "test"

    def __init__(self) -> None:
        self._charges: dict[str, tuple[str, Decimal, Decimal]] = {}
        self._by_transaction: dict[str, str] = {}

    async def charge(
        self, *, reference: str, amount: Decimal, currency: str, method: str
    ) -> PaymentResult:
        if reference in self._charges:
            transaction_id, _, _ = self._charges[reference]
            return PaymentResult(PaymentOutcome.APPROVED, transaction_id, {"replayed": True})
        if method == DECLINING_METHOD:
            return PaymentResult(PaymentOutcome.DECLINED, None, {"decline_code": "card_declined"})
        if method == FAILING_METHOD:
            return PaymentResult(PaymentOutcome.FAILED, None, {"error": "processor_unavailable"})
        transaction_id = f"test_{uuid.uuid4().hex}"
        self._charges[reference] = (transaction_id, amount, Decimal(0))
        self._by_transaction[transaction_id] = reference
        return PaymentResult(
            PaymentOutcome.APPROVED,
            transaction_id,
            {"amount": str(amount), "currency": currency, "method": method},
        )

    async def refund(self, *, transaction_id: str, amount: Decimal, currency: str) -> PaymentResult:
        reference = self._by_transaction.get(transaction_id)
        if reference is None:
            return PaymentResult(PaymentOutcome.FAILED, None, {"error": "unknown_transaction"})
        charged_id, charged, refunded = self._charges[reference]
        if refunded + amount > charged:
            return PaymentResult(PaymentOutcome.DECLINED, None, {"error": "exceeds_charge"})
        self._charges[reference] = (charged_id, charged, refunded + amount)
        return PaymentResult(
            PaymentOutcome.APPROVED,
            f"test_refund_{uuid.uuid4().hex}",
            {"amount": str(amount), "currency": currency},
        )

    async def void(self, *, reference: str) -> None:
        charge = self._charges.pop(reference, None)
        if charge is not None:
            self._by_transaction.pop(charge[0], None)
