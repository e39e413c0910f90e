"""The public API's records: personal access tokens, the writes made through the API, and creator webhooks
(endpoints, the deliveries made to them, and the collector's position in each event source).

Tokens are stored as a SHA-256 of the token (a token is 256 random bits, so a plain hash is enough
and lets one indexed lookup authenticate it); the token itself is shown once, when it is made.
Webhook secrets must sign every delivery, so they are stored as they are, and shown once too.
"""

import datetime
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    WALLET_READ = "wallet:read", _("Read your coin balance, history and coin prices")
    GIFTS_SEND = "gifts:send", _("Send gifts with your coins")
    LIVE_READ = "live:read", _("Read live streams, their goals, leaderboards and events")
    EARNINGS_READ = "earnings:read", _("Read your creator earnings")
    PAYOUTS_READ = "payouts:read", _("Read your payouts (never request one)")


class AccessToken(models.Model):
    """A personal access token: named, scoped, expiring, revocable; only its hash is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens", verbose_name=_("user")
    )
    name = models.CharField(max_length=80, verbose_name=_("name"))
    prefix = models.CharField(
        max_length=16, help_text=_("The token's first characters, to recognise it by."), verbose_name=_("prefix")
    )
    token_hash = models.CharField(max_length=64, unique=True, verbose_name=_("token hash"))
    scopes = models.JSONField(default=list, verbose_name=_("scopes"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))

    class Meta:
        verbose_name = _("access token")
        verbose_name_plural = _("access tokens")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user")]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="api_token_expires_later"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_usable(self, now: datetime.datetime | None = None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())


class ApiWrite(models.Model):
    """One write made through the API, with the token that made it (none: the site's own session)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    token = models.ForeignKey(
        AccessToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="writes", verbose_name=_("token")
    )
    operation = models.CharField(max_length=40, verbose_name=_("operation"))
    object_id = models.CharField(max_length=40, verbose_name=_("object id"))
    idempotency_key = models.CharField(max_length=100, verbose_name=_("idempotency key"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("API write")
        verbose_name_plural = _("API writes")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "operation", "idempotency_key"], name="api_write_unique_request"),
        ]

    def __str__(self) -> str:
        return gettext("%(operation)s %(object)s by user %(user)s") % {
            "operation": self.operation,
            "object": self.object_id,
            "user": self.user_id,
        }


class WebhookEvent(models.TextChoices):
    GIFT_SENT = "gift.sent", _("A gift was sent on your stream")
    CHAT_MESSAGE = "chat.message", _("A chat message was posted on your stream")
    GOAL_REACHED = "goal.reached", _("Your stream reached its goal")
    STREAM_STARTED = "stream.started", _("You went live")
    STREAM_ENDED = "stream.ended", _("Your stream ended")
    PAYOUT_PAID = "payout.paid", _("A payout was paid")


def new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


class WebhookEndpoint(models.Model):
    """A creator's HTTPS endpoint and the events it receives, signed with its secret (and, for an overlap
    window after a rotation, also with the previous one)."""

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints", verbose_name=_("creator")
    )
    url = models.URLField(max_length=500, verbose_name=_("URL"))
    event_types = models.JSONField(default=list, verbose_name=_("event types"))
    secret = models.CharField(max_length=80, default=new_webhook_secret, verbose_name=_("secret"))
    previous_secret = models.CharField(max_length=80, blank=True, default="", verbose_name=_("previous secret"))
    previous_secret_expires_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("previous secret expires at")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    disabled_reason = models.CharField(max_length=300, blank=True, default="", verbose_name=_("disabled reason"))
    disabled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("disabled at"))
    # Claimed by the task that emails the creator (once per disabling); the mail sweep sends what never was.
    disabled_notice_sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("disabled notice sent at"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["creator"], condition=Q(is_active=True), name="api_endpoint_active")]

    def __str__(self) -> str:
        return self.url

    def secrets_in_use(self, now: datetime.datetime | None = None) -> list[str]:
        """The secrets each delivery is signed with: the current one, and the previous one until it expires."""
        keys = [self.secret]
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and expires > (now or timezone.now()):
            keys.append(self.previous_secret)
        return keys


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed (gave up)")


class WebhookDelivery(models.Model):
    """One event for one endpoint: its payload (fixed when the event was collected) and how sending it went.

    Unique per (endpoint, event id), so collecting an event twice never delivers it twice.
    """

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("endpoint")
    )
    event_id = models.CharField(max_length=80, verbose_name=_("event id"))
    event_type = models.CharField(max_length=40, choices=WebhookEvent.choices, verbose_name=_("event type"))
    payload = models.JSONField(verbose_name=_("payload"))
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING, verbose_name=_("status")
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(default=timezone.now, verbose_name=_("next attempt at"))
    last_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last attempt at"))
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("last status code"))
    last_error = models.CharField(max_length=300, blank=True, default="", verbose_name=_("last error"))
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("webhook delivery")
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="api_delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="api_delivery_log"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="api_delivery_unique_event"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="api_delivery_status_valid"),
        ]

    def __str__(self) -> str:
        return gettext("%(event)s to endpoint %(endpoint)s (%(status)s)") % {
            "event": self.event_id,
            "endpoint": self.endpoint_id,
            "status": self.get_status_display(),
        }


class WebhookCursor(models.Model):
    """How far the collector has read one event source (a row id or a time), so each run reads only what is new."""

    source = models.CharField(max_length=40, primary_key=True, verbose_name=_("source"))
    last_id = models.BigIntegerField(default=0, verbose_name=_("last id"))
    last_time = models.DateTimeField(null=True, blank=True, verbose_name=_("last time"))

    class Meta:
        verbose_name = _("webhook cursor")
        verbose_name_plural = _("webhook cursors")

    def __str__(self) -> str:
        return self.source
