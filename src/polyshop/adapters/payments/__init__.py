"""Payment gateway adapters behind `ports.PaymentGateway`."""

from polyshop.adapters.payments._stripe import StripeGateway, WebhookEvent, minor_units
from polyshop.adapters.payments._test_gateway import (
    DECLINING_METHOD,
    FAILING_METHOD,
    SLOW_METHOD,
    ChargeRecord,
    TestPaymentGateway,
)

__all__ = [
    "DECLINING_METHOD",
    "FAILING_METHOD",
    "SLOW_METHOD",
    "ChargeRecord",
    "StripeGateway",
    "TestPaymentGateway",
    "WebhookEvent",
    "minor_units",
]
