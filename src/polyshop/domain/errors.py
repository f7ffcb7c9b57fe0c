"""Typed errors every layer raises and the edges (API, CLI) translate for people."""

from __future__ import annotations


class PolyshopError(Exception):
    """Base of every error polyshop raises on purpose; its message is meant for a person."""

    code = "error"


class ConfigurationError(PolyshopError):
    """A setting is missing or malformed."""

    code = "configuration"


class StoreUnavailableError(PolyshopError):
    """A store cannot be reached; the message names the store."""

    code = "store_unavailable"

    def __init__(self, store: str, reason: str) -> None:
        super().__init__(f"{store}: {reason}")
        self.store = store


class ValidationError(PolyshopError):
    """Input that breaks a rule of the domain; `field` names the offending input when known."""

    code = "validation"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(PolyshopError):
    code = "not_found"


class ForbiddenError(PolyshopError):
    """The caller may not do this (their role or ownership does not allow it)."""

    code = "forbidden"


class ConflictError(PolyshopError):
    code = "conflict"


class TenantRequiredError(PolyshopError):
    """A tenant-scoped operation was attempted without a tenant."""

    code = "tenant_required"


class InvalidTransitionError(ConflictError):
    """A status change the state machine does not allow."""

    code = "invalid_transition"


class InsufficientStockError(ConflictError):
    """Not enough stock for a `deny` item; `shortages` says which and how much is left."""

    code = "insufficient_stock"

    def __init__(self, shortages: list[tuple[str, int, int]]) -> None:
        details = ", ".join(
            f"{sku}: {requested} requested, {available} available"
            for sku, requested, available in shortages
        )
        super().__init__(f"insufficient stock ({details})")
        self.shortages = shortages


class PaymentDeclinedError(PolyshopError):
    """The payment gateway declined the charge; nothing was ordered."""

    code = "payment_declined"


class PaymentFailedError(PolyshopError):
    """The payment gateway could not process the charge; nothing was ordered."""

    code = "payment_failed"


class WebhookSignatureError(PolyshopError):
    """A gateway webhook whose signature is missing, wrong or too old; nothing changed."""

    code = "invalid_signature"


class AuthenticationError(PolyshopError):
    """Wrong email or password (deliberately not saying which)."""

    code = "authentication_failed"


class AccountLockedError(AuthenticationError):
    """Too many failed sign-ins; `retry_after_seconds` says how long the lock still lasts."""

    code = "account_locked"

    def __init__(self, message: str, *, retry_after_seconds: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ShopMisconfiguredError(ConflictError):
    """A shop's stored settings break the rules they are checked against when written (set
    before the check existed, or by hand): what needs them is refused until they are fixed."""

    code = "shop_misconfigured"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        # For the operator's log only: it may name a discount code customers should not learn.
        self.reason = reason
