"""The sandbox provider's own database: one row per hosted checkout session."""

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy, pgettext_lazy
from djmoney.models.fields import MoneyField
from djmoney.money import Money

from coinsite.lib.currencies import CURRENCY_EXPONENTS
from wallet.money import quantize
from wallet.providers.base import PAYMENT_METHODS

METHOD_LABELS = {
    "card": gettext_lazy("Card"),
    "paypal": "PayPal",
    "google_pay": "Google Pay",
    "apple_pay": "Apple Pay",
    "carrier_billing": gettext_lazy("Carrier billing"),
}
METHOD_CHOICES = [(code, METHOD_LABELS[code]) for code in PAYMENT_METHODS]


def new_public_id() -> str:
    # The checkout URL is a capability (the hosted page has no login), so it must be unguessable.
    return "sbx_" + secrets.token_hex(16)


class SessionState(models.TextChoices):
    OPEN = "open", pgettext_lazy("sandbox checkout state", "Open")
    CHALLENGE = "challenge", pgettext_lazy("sandbox checkout state", "Waiting for confirmation")
    PAID = "paid", pgettext_lazy("sandbox checkout state", "Paid")
    DECLINED = "declined", pgettext_lazy("sandbox checkout state", "Declined")
    CANCELLED = "cancelled", pgettext_lazy("sandbox checkout state", "Cancelled")
    EXPIRED = "expired", pgettext_lazy("sandbox checkout state", "Expired")


class WebhookState(models.TextChoices):
    NONE = "none", pgettext_lazy("sandbox webhook delivery", "Nothing to send")
    PENDING = "pending", pgettext_lazy("sandbox webhook delivery", "Sending")
    DELIVERED = "delivered", pgettext_lazy("sandbox webhook delivery", "Delivered")
    FAILED = "failed", pgettext_lazy("sandbox webhook delivery", "Gave up")


OPEN_STATES = (SessionState.OPEN, SessionState.CHALLENGE)


class SandboxSession(models.Model):
    State = SessionState
    WebhookState = WebhookState

    OPEN_STATES = OPEN_STATES
    # The webhook event type each finished state sends.
    EVENT_TYPES = {
        SessionState.PAID: "payment.succeeded",
        SessionState.DECLINED: "payment.failed",
        SessionState.CANCELLED: "payment.cancelled",
        SessionState.EXPIRED: "payment.expired",
    }

    public_id = models.CharField(
        max_length=40, unique=True, default=new_public_id, editable=False, verbose_name=gettext_lazy("public id")
    )
    idempotency_key = models.CharField(max_length=255, unique=True, verbose_name=gettext_lazy("idempotency key"))
    reference = models.CharField(max_length=64, db_index=True, verbose_name=gettext_lazy("reference"))
    amount = MoneyField(
        max_digits=14,
        decimal_places=2,
        default_currency=None,
        currency_choices=[(code, code) for code in CURRENCY_EXPONENTS],
        verbose_name=gettext_lazy("amount"),
    )
    description = models.CharField(max_length=200, verbose_name=gettext_lazy("description"))
    customer_email = models.EmailField(verbose_name=gettext_lazy("customer email"))
    payment_method = models.CharField(
        max_length=20, choices=METHOD_CHOICES, verbose_name=gettext_lazy("payment method")
    )
    # The methods the merchant allows this payer (their country's); the page offers only these.
    allowed_methods = models.JSONField(default=list, blank=True, verbose_name=gettext_lazy("allowed methods"))
    paid_with = models.CharField(
        max_length=20, choices=METHOD_CHOICES, blank=True, verbose_name=gettext_lazy("paid with")
    )
    payer_detail = models.CharField(
        max_length=60, blank=True, verbose_name=gettext_lazy("payer detail")
    )  # "card ending 4242", never the number
    # The payer's billing country: the account's country until the payer picks another on the page.
    billing_country = models.CharField(
        max_length=2, blank=True, default="", verbose_name=gettext_lazy("billing country")
    )
    success_url = models.CharField(max_length=2000, verbose_name=gettext_lazy("success URL"))
    cancel_url = models.CharField(max_length=2000, verbose_name=gettext_lazy("cancel URL"))
    state = models.CharField(
        max_length=12, choices=SessionState.choices, default=SessionState.OPEN, verbose_name=gettext_lazy("state")
    )
    expires_at = models.DateTimeField(verbose_name=gettext_lazy("expires at"))
    created = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("finished at"))
    event_id = models.CharField(max_length=40, blank=True, verbose_name=gettext_lazy("event id"))
    webhook_state = models.CharField(
        max_length=10,
        choices=WebhookState.choices,
        default=WebhookState.NONE,
        verbose_name=gettext_lazy("webhook state"),
    )
    webhook_attempts = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("webhook attempts"))
    webhook_attempted_at = models.DateTimeField(
        null=True, blank=True, verbose_name=gettext_lazy("webhook attempted at")
    )
    webhook_delivered_at = models.DateTimeField(
        null=True, blank=True, verbose_name=gettext_lazy("webhook delivered at")
    )
    webhook_last_error = models.CharField(max_length=300, blank=True, verbose_name=gettext_lazy("webhook last error"))

    class Meta:
        verbose_name = gettext_lazy("sandbox session")
        verbose_name_plural = gettext_lazy("sandbox sessions")
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=SessionState.values), name="paysandbox_session_state_valid"),
            models.CheckConstraint(
                condition=Q(webhook_state__in=WebhookState.values), name="paysandbox_session_webhook_state_valid"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="paysandbox_session_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_currency__in=list(CURRENCY_EXPONENTS)), name="paysandbox_session_currency_supported"
            ),
            # A session is finished exactly when it has its one outcome event.
            models.CheckConstraint(
                condition=(
                    Q(state__in=OPEN_STATES, event_id="", finished_at__isnull=True)
                    | (~Q(state__in=OPEN_STATES) & ~Q(event_id="") & Q(finished_at__isnull=False))
                ),
                name="paysandbox_session_finished_has_event",
            ),
            models.UniqueConstraint(
                fields=["event_id"], condition=~Q(event_id=""), name="paysandbox_session_event_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(state__in=OPEN_STATES), name="paysandbox_open_expiry_idx"),
            models.Index(
                fields=["finished_at"],
                condition=Q(webhook_state=WebhookState.PENDING),
                name="paysandbox_webhook_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES and not self.is_past_expiry

    @property
    def is_past_expiry(self) -> bool:
        return timezone.now() >= self.expires_at

    @property
    def offered_methods(self) -> list[str]:
        """The methods this checkout offers, in the usual order: the allowed ones, or the one asked for."""
        allowed = set(self.allowed_methods or [self.payment_method])
        return [method for method in PAYMENT_METHODS if method in allowed]

    @property
    def price(self) -> Money:
        """The amount rounded to its currency (the column keeps 2 places even for JPY)."""
        return quantize(self.amount)
