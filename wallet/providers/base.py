"""The small interface every payment provider implements, and the factory that picks one.

Plain dataclasses on purpose: providers know nothing about Coinsite's models. The recharge
service turns a top-up into a `CheckoutRequest`, and turns each `PaymentEvent` (from a verified
webhook or from a `session_status` re-check) back into a state change on its top-up.
"""

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from djmoney.money import Money

PAYMENT_METHODS = ("card", "paypal", "google_pay", "apple_pay", "carrier_billing")
EVENT_TYPES = frozenset({"succeeded", "failed", "cancelled", "expired", "pending"})

PROVIDERS = {
    "sandbox": "wallet.providers.sandbox.SandboxProvider",
    "stripe": "wallet.providers.stripe.StripeProvider",
}

# Signed webhooks older than this are refused, so a captured request cannot be replayed later.
SIGNATURE_TOLERANCE_SECONDS = 300
# A provider's ids are stored as they are, never cut: an id longer than the column
# (PaymentWebhookEvent.event_id, TopUp.provider_session_id) is refused, so two ids that share
# their first 200 characters can never be taken for the same event.
MAX_PROVIDER_ID_LENGTH = 200
# Control characters (NUL above all: PostgreSQL cannot store it) and lone surrogates.
UNSTORABLE_ID_CHARACTERS = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# ISO 3166-1 alpha-2, or empty for a provider that could not tell.
COUNTRY_CODE = re.compile("(?:[A-Z]{2})?")


class ProviderError(Exception):
    """The provider could not start a checkout. `retryable` is True for outages and timeouts
    (try again later with the same idempotency key), False for requests it will never accept."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class UnsupportedPaymentMethod(ValueError):
    """This provider cannot take the requested payment method."""


class WebhookRejected(Exception):
    """A webhook failed verification or could not be read: answer 400 and change nothing."""


@dataclass(frozen=True, kw_only=True)
class CheckoutRequest:
    reference: str  # our top-up's public id
    amount: Money
    description: str
    customer_email: str
    payment_method: str
    success_url: str
    cancel_url: str
    idempotency_key: str
    country: str = ""  # the account's effective country (the sandbox offers it as the billing country)
    # Every method the payer's country allows (the checkout may offer to switch between them);
    # empty means only `payment_method`.
    allowed_methods: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.payment_method not in PAYMENT_METHODS:
            raise UnsupportedPaymentMethod(f"Unknown payment method {self.payment_method!r}.")
        if any(method not in PAYMENT_METHODS for method in self.allowed_methods):
            raise UnsupportedPaymentMethod(f"Unknown payment method in {self.allowed_methods!r}.")
        if self.allowed_methods and self.payment_method not in self.allowed_methods:
            raise UnsupportedPaymentMethod(f"{self.payment_method!r} is not among the allowed methods.")
        if self.amount.amount <= 0:
            raise ValueError("A checkout amount must be positive.")
        if not self.reference or not self.idempotency_key:
            raise ValueError("A checkout needs a reference and an idempotency key.")


@dataclass(frozen=True, kw_only=True)
class CheckoutSession:
    provider_session_id: str
    redirect_url: str  # where to send the payer's browser
    expires_at: datetime.datetime


@dataclass(frozen=True, kw_only=True)
class PaymentEvent:
    event_id: str  # the provider's event id: deduplicate on it
    type: str  # one of EVENT_TYPES
    reference: str
    provider_session_id: str
    amount: Money | None
    occurred_at: datetime.datetime
    # The payer's billing or card country as the provider reports it ("" when it should have and
    # did not); None when this event carries none at all. A paid top-up is credited only when it
    # matches the account's country (wallet.services).
    payment_country: str | None = None
    # How the payer actually paid at the provider (one of PAYMENT_METHODS), None when the event does
    # not say; it is what the top-up records, whatever was picked on Coinsite before the checkout.
    payment_method: str | None = None

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"Unknown payment event type {self.type!r}.")


def webhook_event_check(event: PaymentEvent) -> None:
    """Raise WebhookRejected unless the event's ids can be stored exactly as the provider sent them."""
    fields = {"event id": event.event_id, "reference": event.reference, "session id": event.provider_session_id}
    for name, value in fields.items():
        if not isinstance(value, str) or len(value) > MAX_PROVIDER_ID_LENGTH:
            raise WebhookRejected(f"The {name} is not a string of at most {MAX_PROVIDER_ID_LENGTH} characters.")
        if UNSTORABLE_ID_CHARACTERS.search(value):
            raise WebhookRejected(f"The {name} contains control characters.")
    if not event.event_id:
        raise WebhookRejected("The event has no id.")
    if event.payment_country is not None and not COUNTRY_CODE.fullmatch(event.payment_country):
        raise WebhookRejected("The payment country is not a two-letter country code.")
    if event.payment_method is not None and event.payment_method not in PAYMENT_METHODS:
        raise WebhookRejected("The payment method is not one Coinsite knows.")


@runtime_checkable
class PaymentProvider(Protocol):
    name: str
    payment_methods: frozenset[str]

    def checkout_start(self, request: CheckoutRequest) -> CheckoutSession:
        """Create (or, for a repeated idempotency key, return again) a hosted checkout session.
        Raises ProviderError or UnsupportedPaymentMethod."""
        ...

    def webhook_parse(self, *, body: bytes, headers: Mapping[str, str]) -> list[PaymentEvent]:
        """Verify the signature and map the payload to events; events this interface does not
        model give an empty list. Raises WebhookRejected."""
        ...

    def session_status(self, provider_session_id: str) -> PaymentEvent | None:
        """The session's outcome as the provider sees it now, or None while it is still open."""
        ...


def get_provider(name: str | None = None) -> PaymentProvider:
    """The provider called `name`, or the one chosen by settings.PAYMENT_PROVIDER."""
    name = name or settings.PAYMENT_PROVIDER
    try:
        path = PROVIDERS[name]
    except KeyError:
        raise ValueError(f"Unknown payment provider {name!r}; choose one of {sorted(PROVIDERS)}.") from None
    return import_string(path)()


def checkout_expires_at(now: datetime.datetime | None = None) -> datetime.datetime:
    """When a checkout started now stops accepting payment (settings.PAYMENT_CHECKOUT_MINUTES)."""
    now = now or timezone.now()
    return (now + datetime.timedelta(minutes=settings.PAYMENT_CHECKOUT_MINUTES)).replace(microsecond=0)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value, case-insensitively (Django's request.headers or a plain dict)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None
