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


class ConflictError(PolyshopError):
    code = "conflict"


class TenantRequiredError(PolyshopError):
    """A tenant-scoped operation was attempted without a tenant."""

    code = "tenant_required"
