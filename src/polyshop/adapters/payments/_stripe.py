"""Stripe behind `ports.PaymentGateway`, with the official `stripe` library (async calls).

A charge is a PaymentIntent created and confirmed in one call, with our reference as the
idempotency key and in its metadata: a retried charge returns the first intent, and the
reconciler finds an intent by our reference with the search API. Refunds use the refund's id
the same way. Amounts go to Stripe in minor units (Decimal in, integer out, exact).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import stripe

from polyshop.domain.errors import ValidationError, WebhookSignatureError
from polyshop.ports import PaymentOutcome, PaymentResult

# Currencies Stripe counts in whole units (https://docs.stripe.com/currencies#zero-decimal).
_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()  # noqa: SIM905
)
# Our checkout's payment methods as Stripe's test payment methods; `pm_...` passes through.
_METHODS = {
    "card": "pm_card_visa",
    "card_declined": "pm_card_chargeDeclined",
    "card_error": "pm_card_chargeDeclinedProcessingError",
}


def minor_units(amount: Decimal, currency: str) -> int:
    scaled = amount if currency.upper() in _ZERO_DECIMAL else amount * 100
    if scaled != scaled.to_integral_value():
        raise ValidationError(f"{amount} {currency} is not a whole number of minor units")
    return int(scaled)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified gateway event about one of our charges."""

    id: str
    type: str
    reference: str | None
    result: PaymentResult | None  # what the event says happened to the charge, if it says


class StripeGateway:
    name = "stripe"

    def __init__(
        self, api_key: str, *, api_base: str | None = None, webhook_secret: str | None = None,
        timeout_seconds: float = 30,
    ) -> None:  # fmt: skip
        addresses: dict[str, str] = {"api": api_base} if api_base else {}
        self._http = stripe.HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses=addresses,  # type: ignore[arg-type]
            # Retries reuse the idempotency key, so they cannot charge twice.
            max_network_retries=2,
            http_client=self._http,
        )
        self._webhook_secret = webhook_secret

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def charge(
        self, *, reference: str, amount: Decimal, currency: str, method: str
    ) -> PaymentResult:
        params: dict[str, Any] = {
            "amount": minor_units(amount, currency),
            "currency": currency.lower(),
            "payment_method": _METHODS.get(method, method),
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "metadata": {"reference": reference},
        }
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"charge-{reference}"},
            )
        except stripe.CardError as exc:
            return PaymentResult(PaymentOutcome.DECLINED, None, _error(exc))
        return _intent_result(intent)

    async def retrieve(self, *, reference: str) -> PaymentResult | None:
        found = await self._client.v1.payment_intents.search_async(
            {"query": f"metadata['reference']:'{_quoted(reference)}'", "limit": 1}
        )
        intents = list(found.data)
        return _intent_result(intents[0]) if intents else None

    async def void(self, *, reference: str) -> None:
        # Stripe cannot refuse an intent it has not seen; the reservation deadline (longer than
        # the gateway timeout) makes sure no charge of ours is still on its way by then.
        found = await self._client.v1.payment_intents.search_async(
            {"query": f"metadata['reference']:'{_quoted(reference)}'", "limit": 1}
        )
        for intent in found.data:
            if intent.status == "succeeded":
                await self._client.v1.refunds.create_async(
                    {"payment_intent": intent.id, "metadata": {"reference": reference}},
                    {"idempotency_key": f"void-{reference}"},
                )
            elif intent.status not in ("canceled", "processing"):
                await self._client.v1.payment_intents.cancel_async(
                    intent.id, options={"idempotency_key": f"cancel-{reference}"}
                )

    async def refund(
        self, *, reference: str, transaction_id: str, amount: Decimal, currency: str
    ) -> PaymentResult:
        try:
            refund = await self._client.v1.refunds.create_async(
                {"payment_intent": transaction_id, "amount": minor_units(amount, currency),
                 "metadata": {"reference": reference}},
                {"idempotency_key": f"refund-{reference}"},
            )  # fmt: skip
        except stripe.InvalidRequestError as exc:
            return PaymentResult(PaymentOutcome.DECLINED, None, _error(exc))
        outcome = PaymentOutcome.FAILED if refund.status in ("failed", "canceled") else (
            PaymentOutcome.APPROVED
        )  # fmt: skip
        return PaymentResult(outcome, refund.id, {"refund": refund.id, "status": refund.status})

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """Verify Stripe's signature (`Stripe-Signature`, HMAC-SHA256 over the timestamp and the
        raw body, within the tolerance) and read the event; a bad one is a ValidationError."""
        if not self._webhook_secret:
            raise WebhookSignatureError("webhooks are not configured for this gateway")
        try:
            # The tolerance must be passed: without it an old signature is never refused.
            stripe.WebhookSignature.verify_header(
                payload.decode(), signature or "", self._webhook_secret,
                tolerance=stripe.Webhook.DEFAULT_TOLERANCE,
            )  # fmt: skip
            event = json.loads(payload)
        except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError):
            raise WebhookSignatureError("the webhook signature is not valid") from None
        intent = (event.get("data") or {}).get("object") or {}
        reference = (intent.get("metadata") or {}).get("reference")
        result = None
        if event.get("type") == "payment_intent.succeeded":
            result = PaymentResult(
                PaymentOutcome.APPROVED, intent.get("id"), {"event": event["id"]}
            )
        elif event.get("type") == "payment_intent.payment_failed":
            result = PaymentResult(PaymentOutcome.DECLINED, None, {"event": event["id"]})
        return WebhookEvent(str(event.get("id")), str(event.get("type")), reference, result)


def _intent_result(intent: Any) -> PaymentResult:
    response = {"intent": intent.id, "status": intent.status}
    if intent.status == "succeeded":
        return PaymentResult(PaymentOutcome.APPROVED, intent.id, response)
    if intent.status in ("requires_payment_method", "canceled"):
        return PaymentResult(PaymentOutcome.DECLINED, None, response)
    return PaymentResult(PaymentOutcome.FAILED, None, response)


def _error(exc: stripe.StripeError) -> dict[str, Any]:
    return {"error": exc.code or type(exc).__name__, "message": exc.user_message or ""}


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
