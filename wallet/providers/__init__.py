"""Payment providers behind one small interface; `get_provider()` returns the configured one."""

from wallet.providers.base import (
    EVENT_TYPES,
    PAYMENT_METHODS,
    CheckoutRequest,
    CheckoutSession,
    PaymentEvent,
    PaymentProvider,
    ProviderError,
    UnsupportedPaymentMethod,
    WebhookRejected,
    get_provider,
)

__all__ = [
    "EVENT_TYPES",
    "PAYMENT_METHODS",
    "CheckoutRequest",
    "CheckoutSession",
    "PaymentEvent",
    "PaymentProvider",
    "ProviderError",
    "UnsupportedPaymentMethod",
    "WebhookRejected",
    "get_provider",
]
