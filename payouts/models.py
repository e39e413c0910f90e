"""Payouts: creators' payout methods, payout requests, earnings roll-ups and monthly statements.

Diamonds themselves live in the wallet ledger. A `Payout` records one request to turn diamonds
into money: the diamonds move to the clearing account when it is requested, and leave it either
to diamonds redeemed (paid) or back to the creator (failed or rejected) — docs/design.md §3.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy
from djmoney.models.fields import MoneyField

from coinsite.lib.currencies import currency_choices
from coinsite.lib.l10n import format_count, format_month_local
from coinsite.lib.singletons import SingletonModel


class PayoutMethodKind(models.TextChoices):
    BANK = "bank", gettext_lazy("Bank account (IBAN)")
    PAYPAL = "paypal", gettext_lazy("PayPal")


class PayoutMethod(models.Model):
    """Where a creator's money goes. Never edited: a change is a new row and the old one is retired."""

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="payout_methods",
        verbose_name=gettext_lazy("creator"),
    )
    kind = models.CharField(max_length=8, choices=PayoutMethodKind.choices, verbose_name=gettext_lazy("kind"))
    holder_name = models.CharField(max_length=100, verbose_name=gettext_lazy("holder name"))
    iban = models.CharField(max_length=34, blank=True, default="", verbose_name=gettext_lazy("IBAN"))
    bic = models.CharField(max_length=11, blank=True, default="", verbose_name=gettext_lazy("BIC"))
    paypal_email = models.EmailField(blank=True, default="", verbose_name=gettext_lazy("PayPal email"))
    currency = models.CharField(
        max_length=3,
        help_text=gettext_lazy("The currency payouts to this method are paid in."),
        verbose_name=gettext_lazy("currency"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    retired_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("retired at"))
    # Staff may end the payout hold this method's addition started, once they have checked the change
    # with the creator (payouts.services.payout_hold_lift; the reason is in the staff audit log).
    hold_lifted_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("hold lifted at"))
    hold_lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("hold lifted by"),
    )
    # When the security notice ("your payout method was changed") was claimed for sending: once, by one task.
    notice_sent_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("notice sent at"))

    class Meta:
        verbose_name = gettext_lazy("payout method")
        verbose_name_plural = gettext_lazy("payout methods")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweep's read of security notices not sent yet (services.payout_method_notices_unsent).
            models.Index(
                fields=["created_at"], condition=Q(notice_sent_at__isnull=True), name="payouts_method_notice_unsent"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=PayoutMethodKind.BANK, paypal_email="") & ~Q(iban="") & ~Q(bic="")
                | Q(kind=PayoutMethodKind.PAYPAL, iban="", bic="") & ~Q(paypal_email=""),
                name="payouts_payoutmethod_details_match_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.masked} ({self.currency})"

    @property
    def masked(self) -> str:
        """The details with all but the last characters hidden, as pages and emails show them."""
        if self.kind == PayoutMethodKind.BANK:
            return f"{self.iban[:2]}•• •••• {self.iban[-4:]}"
        name, _, domain = self.paypal_email.partition("@")
        return f"{name[:1]}•••@{domain}"

    @property
    def is_active(self) -> bool:
        return self.retired_at is None


class PayoutStatus(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", pgettext_lazy("payout status", "Waiting for approval")
    QUEUED = "queued", pgettext_lazy("payout status", "Queued")
    PROCESSING = "processing", pgettext_lazy("payout status", "Processing")
    SUBMITTED = "submitted", pgettext_lazy("payout status", "Sent to the payout provider")
    PAID = "paid", pgettext_lazy("payout status", "Paid")
    FAILED = "failed", pgettext_lazy("payout status", "Failed")
    REJECTED = "rejected", pgettext_lazy("payout status", "Rejected")


OPEN_PAYOUT_STATUSES = [
    PayoutStatus.AWAITING_APPROVAL,
    PayoutStatus.QUEUED,
    PayoutStatus.PROCESSING,
    PayoutStatus.SUBMITTED,
]
FINAL_PAYOUT_STATUSES = [PayoutStatus.PAID, PayoutStatus.FAILED, PayoutStatus.REJECTED]


class Payout(models.Model):
    """One payout request: diamonds in clearing until it is paid (redeemed) or fails (returned).

    The conversion snapshot (diamond value, exchange rate and its age, gross, fee, net) is written
    once, by the conversion task, and kept for statements and support.
    """

    public_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, verbose_name=gettext_lazy("public id")
    )
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts", verbose_name=gettext_lazy("creator")
    )
    method = models.ForeignKey(
        PayoutMethod, on_delete=models.PROTECT, related_name="payouts", verbose_name=gettext_lazy("method")
    )
    diamonds = models.BigIntegerField(verbose_name=gettext_lazy("diamonds"))
    status = models.CharField(max_length=20, choices=PayoutStatus.choices, verbose_name=gettext_lazy("status"))
    idempotency_key = models.CharField(
        max_length=100,
        help_text=gettext_lazy("From the request form: a double submit pays once."),
        verbose_name=gettext_lazy("idempotency key"),
    )
    provider_key = models.UUIDField(
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text=gettext_lazy("Idempotency key sent to the payout provider."),
        verbose_name=gettext_lazy("provider key"),
    )
    value = MoneyField(
        currency_choices=currency_choices,
        max_digits=14,
        decimal_places=2,
        default_currency="USD",
        help_text=gettext_lazy("The diamonds at the diamond value when requested."),
        verbose_name=gettext_lazy("value"),
    )
    diamond_value = MoneyField(
        currency_choices=currency_choices,
        max_digits=12,
        decimal_places=6,
        default_currency="USD",
        verbose_name=gettext_lazy("diamond value"),
    )
    currency = models.CharField(max_length=3, verbose_name=gettext_lazy("currency"))
    exchange_rate = models.DecimalField(
        max_digits=20, decimal_places=10, null=True, blank=True, verbose_name=gettext_lazy("exchange rate")
    )
    rates_updated_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("rates updated at"))
    gross = MoneyField(
        currency_choices=currency_choices,
        max_digits=14,
        decimal_places=2,
        default_currency="USD",
        null=True,
        blank=True,
        verbose_name=gettext_lazy("gross"),
    )
    fee = MoneyField(
        currency_choices=currency_choices,
        max_digits=14,
        decimal_places=2,
        default_currency="USD",
        null=True,
        blank=True,
        verbose_name=gettext_lazy("fee"),
    )
    net = MoneyField(
        currency_choices=currency_choices,
        max_digits=14,
        decimal_places=2,
        default_currency="USD",
        null=True,
        blank=True,
        verbose_name=gettext_lazy("net"),
    )
    provider = models.CharField(max_length=20, blank=True, default="", verbose_name=gettext_lazy("provider"))
    provider_reference = models.CharField(
        max_length=100, blank=True, default="", verbose_name=gettext_lazy("provider reference")
    )
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=gettext_lazy("attempts"))
    failure_reason = models.CharField(
        max_length=300, blank=True, default="", verbose_name=gettext_lazy("failure reason")
    )
    requested_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("requested at"))
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("reviewed by"),
    )
    reviewed_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("reviewed at"))
    review_reason = models.CharField(max_length=300, blank=True, default="", verbose_name=gettext_lazy("review reason"))
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("processed at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("finished at"))
    failure_email_sent_at = models.DateTimeField(
        null=True, blank=True, verbose_name=gettext_lazy("failure email sent at")
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        verbose_name = gettext_lazy("payout")
        verbose_name_plural = gettext_lazy("payouts")
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["creator", "-requested_at"], name="payouts_payout_creator"),
            models.Index(fields=["status", "updated_at"], name="payouts_payout_status"),
            # The sweep's read of failure notices not sent yet (services.payout_failure_emails_unsent).
            models.Index(
                fields=["finished_at"],
                condition=Q(
                    status__in=[PayoutStatus.FAILED, PayoutStatus.REJECTED], failure_email_sent_at__isnull=True
                ),
                name="payouts_payout_notice_unsent",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["creator", "idempotency_key"], name="payouts_payout_unique_request"),
            models.CheckConstraint(condition=Q(diamonds__gt=0), name="payouts_payout_diamonds_positive"),
            models.CheckConstraint(condition=Q(status__in=PayoutStatus.values), name="payouts_payout_status_valid"),
            models.CheckConstraint(
                condition=~Q(status=PayoutStatus.PAID) | Q(net__isnull=False, net__gt=0),
                name="payouts_payout_paid_has_net",
            ),
        ]

    def __str__(self) -> str:
        return ngettext(
            "Payout %(id)s: %(diamonds)s diamond (%(status)s)",
            "Payout %(id)s: %(diamonds)s diamonds (%(status)s)",
            self.diamonds,
        ) % {"id": self.pk, "diamonds": format_count(self.diamonds), "status": self.get_status_display()}

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_PAYOUT_STATUSES


class SandboxPayoutTransfer(models.Model):
    """The sandbox payout provider's own record of a transfer; unique per idempotency key, as a real one."""

    idempotency_key = models.UUIDField(unique=True, verbose_name=gettext_lazy("idempotency key"))
    reference = models.CharField(max_length=40, unique=True, verbose_name=gettext_lazy("reference"))
    amount = MoneyField(
        currency_choices=currency_choices,
        max_digits=14,
        decimal_places=2,
        default_currency="USD",
        verbose_name=gettext_lazy("amount"),
    )
    destination = models.CharField(max_length=120, verbose_name=gettext_lazy("destination"))
    status = models.CharField(max_length=10, default="pending", verbose_name=gettext_lazy("status"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    settled_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("settled at"))

    class Meta:
        verbose_name = gettext_lazy("sandbox payout transfer")
        verbose_name_plural = gettext_lazy("sandbox payout transfers")

    def __str__(self) -> str:
        return _("Sandbox transfer %(reference)s (%(status)s)") % {"reference": self.reference, "status": self.status}


class EarningsRollup(models.Model):
    """Gifts a creator received per day and stream, folded from gift events by `earnings_rollup`.

    Dashboards and hold periods read these instead of summing every gift (docs/design.md §4); events newer
    than `EarningsRollupState.last_event_id` are added on read.
    """

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=gettext_lazy("creator")
    )
    day = models.DateField(verbose_name=gettext_lazy("day"))
    stream = models.ForeignKey(
        "gifting.LiveStream", on_delete=models.CASCADE, related_name="+", verbose_name=gettext_lazy("stream")
    )
    gifts = models.BigIntegerField(default=0, verbose_name=gettext_lazy("gifts"))
    coins = models.BigIntegerField(default=0, verbose_name=gettext_lazy("coins"))
    diamonds = models.BigIntegerField(default=0, verbose_name=gettext_lazy("diamonds"))

    class Meta:
        verbose_name = gettext_lazy("earnings rollup")
        verbose_name_plural = gettext_lazy("earnings rollups")
        constraints = [
            models.UniqueConstraint(fields=["creator", "day", "stream"], name="payouts_earningsrollup_unique"),
        ]
        indexes = [models.Index(fields=["creator", "stream"], name="payouts_rollup_creator_stream")]

    def __str__(self) -> str:
        return ngettext(
            "%(diamonds)s diamond for creator %(creator)s on %(day)s",
            "%(diamonds)s diamonds for creator %(creator)s on %(day)s",
            self.diamonds,
        ) % {"diamonds": format_count(self.diamonds), "creator": self.creator_id, "day": date_format(self.day)}


class SupporterRollup(models.Model):
    """Coins each supporter gave a creator (anonymous gifts on their own row), folded like EarningsRollup."""

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=gettext_lazy("creator")
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=gettext_lazy("sender")
    )
    is_anonymous = models.BooleanField(verbose_name=gettext_lazy("is anonymous"))
    gifts = models.BigIntegerField(default=0, verbose_name=gettext_lazy("gifts"))
    coins = models.BigIntegerField(default=0, verbose_name=gettext_lazy("coins"))

    class Meta:
        verbose_name = gettext_lazy("supporter rollup")
        verbose_name_plural = gettext_lazy("supporter rollups")
        constraints = [
            models.UniqueConstraint(fields=["creator", "sender", "is_anonymous"], name="payouts_supporter_unique"),
        ]
        indexes = [models.Index(fields=["creator", "-coins"], name="payouts_supporter_top")]

    def __str__(self) -> str:
        return ngettext(
            "%(coins)s coin from user %(sender)s to creator %(creator)s",
            "%(coins)s coins from user %(sender)s to creator %(creator)s",
            self.coins,
        ) % {"coins": format_count(self.coins), "sender": self.sender_id, "creator": self.creator_id}


class SupporterMonthRollup(models.Model):
    """What each supporter gave a creator in one month (UTC; anonymous gifts on their own row), for statements."""

    # No index of its own: the unique key leads with it.
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        verbose_name=gettext_lazy("creator"),
    )
    month = models.DateField(help_text=gettext_lazy("First day of the month."), verbose_name=gettext_lazy("month"))
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=gettext_lazy("sender")
    )
    is_anonymous = models.BooleanField(verbose_name=gettext_lazy("is anonymous"))
    gifts = models.BigIntegerField(default=0, verbose_name=gettext_lazy("gifts"))
    coins = models.BigIntegerField(default=0, verbose_name=gettext_lazy("coins"))
    diamonds = models.BigIntegerField(default=0, verbose_name=gettext_lazy("diamonds"))

    class Meta:
        verbose_name = gettext_lazy("supporter month rollup")
        verbose_name_plural = gettext_lazy("supporter month rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["creator", "month", "sender", "is_anonymous"], name="payouts_supportermonth_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.coins:,} coins from user {self.sender_id} to creator {self.creator_id} in {self.month:%Y-%m}"


class EarningsRollupState(models.Model):
    """One row: gift events with an id up to `last_event_id` are in the roll-ups, later ones are not."""

    last_event_id = models.BigIntegerField(default=0, verbose_name=gettext_lazy("last event id"))
    # Its own mark: a previous release's roll-up, still running while the upgrade that brought the monthly
    # supporters runs, moves `last_event_id` without adding to them.
    supporter_months_through = models.BigIntegerField(
        default=0,
        db_default=0,
        help_text=gettext_lazy("Gift events up to this id are in the monthly supporter roll-up."),
        verbose_name=gettext_lazy("supporter months through"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        verbose_name = gettext_lazy("earnings rollup state")
        verbose_name_plural = gettext_lazy("earnings rollup states")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="payouts_rollupstate_singleton")]

    def __str__(self) -> str:
        return _("Earnings rolled up to gift event %(id)s") % {"id": self.last_event_id}


class StatementRun(models.Model):
    """The monthly statement emails for one month; staff follow its progress in admin."""

    month = models.DateField(
        unique=True,
        help_text=gettext_lazy("First day of the month the statements cover."),
        verbose_name=gettext_lazy("month"),
    )
    started_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("finished at"))
    last_user_id = models.BigIntegerField(
        default=0,
        help_text=gettext_lazy("Recipients are processed in user id order."),
        verbose_name=gettext_lazy("last user id"),
    )
    recipients_total = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("recipients total"))
    processed = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("processed"))
    sent = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("sent"))

    class Meta:
        verbose_name = gettext_lazy("statement run")
        verbose_name_plural = gettext_lazy("statement runs")
        ordering = ["-month"]

    def __str__(self) -> str:
        month = format_month_local(self.month)
        if self.finished_at:
            return _("Statements %(month)s (finished)") % {"month": month}
        return _("Statements %(month)s (%(processed)s/%(total)s)") % {
            "month": month,
            "processed": self.processed,
            "total": self.recipients_total,
        }


class StatementDelivery(models.Model):
    """One statement email for one user and month; the unique pair means a re-run sends nothing twice."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="statement_deliveries",
        verbose_name=gettext_lazy("user"),
    )
    month = models.DateField(verbose_name=gettext_lazy("month"))
    kind = models.CharField(
        max_length=8,
        choices=[("creator", gettext_lazy("Creator")), ("viewer", gettext_lazy("Viewer"))],
        verbose_name=gettext_lazy("kind"),
    )
    claimed_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("claimed at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("sent at"))

    class Meta:
        verbose_name = gettext_lazy("statement delivery")
        ordering = ["-month", "user_id"]
        verbose_name_plural = gettext_lazy("statement deliveries")
        constraints = [models.UniqueConstraint(fields=["user", "month"], name="payouts_statement_once")]

    def __str__(self) -> str:
        # Translators: "Creator statement 2026-11 for user 12" (the kind is "Creator" or "Viewer").
        return _("%(kind)s statement %(month)s for user %(id)s") % {
            "kind": self.get_kind_display(),
            "month": f"{self.month:%Y-%m}",
            "id": self.user_id,
        }


class PayoutSettings(SingletonModel):
    """The one row of staff-set payout rules: the minimum, the approval threshold, the holds and how
    old the exchange rates may be. Read through `payouts.selectors.payout_settings()` (cached).

    Money amounts are in the diamond value's currency (`wallet.EconomySettings.diamond_value`): a
    payout's value is its diamonds at that value, before any exchange.
    """

    payout_minimum = MoneyField(
        currency_choices=currency_choices,
        max_digits=12,
        decimal_places=2,
        default=50,
        default_currency="USD",
        help_text=gettext_lazy("The smallest payout a creator may request, by diamond value."),
        verbose_name=gettext_lazy("payout minimum"),
    )
    payout_approval_above = MoneyField(
        currency_choices=currency_choices,
        max_digits=12,
        decimal_places=2,
        default=1_000,
        default_currency="USD",
        help_text=gettext_lazy("Payout requests worth more than this wait for staff approval."),
        verbose_name=gettext_lazy("payout approval above"),
    )
    earnings_hold_days = models.PositiveSmallIntegerField(
        default=7,
        help_text=gettext_lazy("Days before diamonds from a gift can be withdrawn (chargeback window)."),
        verbose_name=gettext_lazy("earnings hold days"),
    )
    payout_method_hold_hours = models.PositiveSmallIntegerField(
        default=72,
        help_text=gettext_lazy("Hours payouts are held after a payout method is added or changed."),
        verbose_name=gettext_lazy("payout method hold hours"),
    )
    exchange_rate_max_age_hours = models.PositiveSmallIntegerField(
        default=48,
        help_text=gettext_lazy("Payout conversions are refused when the stored rates are older than this."),
        verbose_name=gettext_lazy("exchange rate max age hours"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        verbose_name = verbose_name_plural = gettext_lazy("payout settings")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="payouts_payoutsettings_singleton"),
            models.CheckConstraint(condition=Q(payout_minimum__gt=0), name="payouts_payoutsettings_minimum_positive"),
        ]

    def __str__(self) -> str:
        return _("Payout settings")
