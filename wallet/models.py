"""The double-entry ledger: accounts, transactions and append-only entries (docs/design.md §2).

Amounts are integers of one asset (coins or diamonds). A positive entry adds to an account's
balance, a negative one takes from it; every transaction sums to zero per asset. Writes go
through `wallet.ledger` only: entries and transactions refuse updates and deletes here and, by
trigger, in PostgreSQL (migration 0002).
"""

import uuid
from typing import Any, Never

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext, pgettext_lazy
from django_countries import countries
from django_countries.fields import CountryField
from djmoney.models.fields import MoneyField

from coinsite.accounts.models import ADULT_AGE
from coinsite.lib.currencies import CURRENCY_EXPONENTS, currency_choices
from coinsite.lib.l10n import format_count
from coinsite.lib.singletons import CachedTableModel, SingletonModel
from wallet.ledger_kinds import history_label
from wallet.money import format_money, format_unit_price
from wallet.providers.base import PAYMENT_METHODS


def _signed_count(amount: int) -> str:
    """ "+1,500" or "-50" (with a real minus sign): a whole amount with its sign, grouped the active language's way."""
    return ("+" if amount > 0 else "\N{MINUS SIGN}" if amount < 0 else "") + format_count(abs(amount))


class Asset(models.TextChoices):
    COIN = "COIN", gettext_lazy("Coins")
    DIAMOND = "DIAMOND", gettext_lazy("Diamonds")


class AccountKind(models.TextChoices):
    USER = "user", gettext_lazy("User wallet")
    SYSTEM = "system", gettext_lazy("System account")


class SystemAccount(models.TextChoices):
    """Codes of the system accounts. They may go negative: coins issued is negative by design."""

    COINS_ISSUED = "coins_issued", gettext_lazy("Coins issued")
    COINS_CONSUMED = "coins_consumed", gettext_lazy("Coins consumed")
    COINS_CLEARING = "coins_clearing", gettext_lazy("Coins clearing")
    COINS_RECEIVABLE = "coins_receivable", gettext_lazy("Coins receivable")
    DIAMONDS_ISSUED = "diamonds_issued", gettext_lazy("Diamonds issued")
    DIAMONDS_REDEEMED = "diamonds_redeemed", gettext_lazy("Diamonds redeemed")
    DIAMONDS_CLEARING = "diamonds_clearing", gettext_lazy("Diamonds clearing")
    DIAMONDS_RECEIVABLE = "diamonds_receivable", gettext_lazy("Diamonds receivable")

    @property
    def asset(self) -> str:
        return Asset.COIN if self.value.startswith("coins_") else Asset.DIAMOND


class AppendOnlyError(Exception):
    """Raised on an attempt to update or delete a ledger transaction or entry."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> Never:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; post a correction instead.")

    def delete(self) -> Never:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; post a correction instead.")

    def bulk_update(self, objs: object, fields: object, batch_size: int | None = None) -> Never:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; post a correction instead.")

    def update_or_create(self, defaults: object = None, create_defaults: object = None, **kwargs: Any) -> Never:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only; use wallet.ledger.")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} {self.pk} is append-only; post a correction.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Never:
        raise AppendOnlyError(f"{type(self).__name__} {self.pk} is append-only; post a correction.")


class LedgerAccount(models.Model):
    """A balance of one asset: a user's coin or diamond wallet, or a system account.

    `balance` is a cache of the sum of the account's entries. For an account with
    `append_only_balance` (creator diamond wallets and system accounts) a posting that needs no
    funds check only inserts its entries, so thousands of concurrent gifts never touch this row;
    `balance` then holds the entries up to id `rolled_up_through`, and the real balance is `balance`
    plus the account's later entries until `wallet.ledger.ledger_rollup` folds them in (a fenced
    periodic roll-up, docs/design.md §4). Other accounts change `balance` with every entry.
    """

    kind = models.CharField(max_length=8, choices=AccountKind.choices, verbose_name=gettext_lazy("kind"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
        verbose_name=gettext_lazy("user"),
    )
    code = models.CharField(
        max_length=32, blank=True, default="", choices=SystemAccount.choices, verbose_name=gettext_lazy("code")
    )
    asset = models.CharField(max_length=8, choices=Asset.choices, verbose_name=gettext_lazy("asset"))
    balance = models.BigIntegerField(default=0, verbose_name=gettext_lazy("balance"))
    append_only_balance = models.BooleanField(
        default=False,
        help_text=gettext_lazy("Credits only insert entries; the roll-up folds them into the balance."),
        verbose_name=gettext_lazy("append only balance"),
    )
    rolled_up_through = models.BigIntegerField(
        default=0,
        help_text=gettext_lazy("Append-only accounts: entries up to this id are in the balance, later ones pending."),
        verbose_name=gettext_lazy("rolled up through"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))

    class Meta:
        verbose_name = gettext_lazy("ledger account")
        verbose_name_plural = gettext_lazy("ledger accounts")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "asset"],
                condition=Q(user__isnull=False),
                name="wallet_ledgeraccount_one_per_user_and_asset",
            ),
            models.UniqueConstraint(
                fields=["code"], condition=~Q(code=""), name="wallet_ledgeraccount_unique_system_code"
            ),
            models.CheckConstraint(condition=Q(asset__in=Asset.values), name="wallet_ledgeraccount_asset_valid"),
            models.CheckConstraint(
                condition=Q(kind=AccountKind.USER, user__isnull=False, code="")
                | (Q(kind=AccountKind.SYSTEM, user__isnull=True) & ~Q(code="")),
                name="wallet_ledgeraccount_owner_matches_kind",
            ),
            # The database, not only Python, keeps user balances from going below zero.
            models.CheckConstraint(
                condition=Q(kind=AccountKind.SYSTEM) | Q(balance__gte=0),
                name="wallet_ledgeraccount_user_balance_nonnegative",
            ),
        ]

    def __str__(self) -> str:
        """ "#1 Coins issued", "#9 Coins of user 4", in the active language (no query for the user)."""
        if self.kind == AccountKind.SYSTEM:
            return f"#{self.pk} {self.get_code_display()}"
        if self.asset == Asset.DIAMOND:
            return f"#{self.pk} " + gettext("Diamonds of user %(id)s") % {"id": self.user_id}
        return f"#{self.pk} " + gettext("Coins of user %(id)s") % {"id": self.user_id}

    @property
    def may_go_negative(self) -> bool:
        return self.kind == AccountKind.SYSTEM


class LedgerTransaction(AppendOnlyModel):
    """One balanced posting; its idempotency key makes a retried operation post nothing twice."""

    # Unique through a constraint, not `unique=True`: that would add a second (`_like`) index every posting
    # writes to, for prefix searches nothing makes.
    idempotency_key = models.CharField(max_length=200, verbose_name=gettext_lazy("idempotency key"))
    kind = models.CharField(
        max_length=64,
        help_text=gettext_lazy("What posted it, e.g. topup, gift, payout, refund."),
        verbose_name=gettext_lazy("kind"),
    )
    memo = models.TextField(blank=True, default="", verbose_name=gettext_lazy("memo"))
    metadata = models.JSONField(default=dict, blank=True, verbose_name=gettext_lazy("metadata"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))

    class Meta:
        verbose_name = gettext_lazy("ledger transaction")
        verbose_name_plural = gettext_lazy("ledger transactions")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="wallet_ledgertransaction_unique_key"),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="wallet_ledgertransaction_key_present"),
            models.CheckConstraint(condition=~Q(kind=""), name="wallet_ledgertransaction_kind_present"),
        ]

    def __str__(self) -> str:
        """ "#5 Gift (gift:4:tap-1)": the kind as the history names it, in the active language, and the key."""
        return f"#{self.pk} {history_label(self.kind)} ({self.idempotency_key})"


class LedgerEntry(AppendOnlyModel):
    """One line of a transaction: `amount` of `asset` added to (or, if negative, taken from) an account."""

    # No foreign-key constraints in the database: every gift's entries point at the same system accounts
    # and the creator's wallet, and each FK check would take a KEY SHARE lock on those hot rows. The
    # insert trigger (migrations 0002, 0012) refuses entries whose transaction or account is missing,
    # accounts with entries cannot be deleted (trigger), and `ledger_audit` checks it again.
    transaction = models.ForeignKey(
        LedgerTransaction,
        on_delete=models.PROTECT,
        related_name="entries",
        db_constraint=False,
        verbose_name=gettext_lazy("transaction"),
    )
    account = models.ForeignKey(
        LedgerAccount,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
        db_constraint=False,
        verbose_name=gettext_lazy("account"),
    )
    asset = models.CharField(max_length=8, choices=Asset.choices, verbose_name=gettext_lazy("asset"))
    amount = models.BigIntegerField(verbose_name=gettext_lazy("amount"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))

    class Meta:
        verbose_name = gettext_lazy("ledger entry")
        ordering = ["id"]
        verbose_name_plural = gettext_lazy("ledger entries")
        indexes = [
            models.Index(fields=["account", "created_at"], name="wallet_entry_account_created"),
            # An append-only account's pending entries (after its roll-up mark), summed from the index alone.
            models.Index(fields=["account", "id"], include=["amount"], name="wallet_entry_account_pending"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_ledgerentry_amount_nonzero"),
            models.CheckConstraint(condition=Q(asset__in=Asset.values), name="wallet_ledgerentry_asset_valid"),
        ]

    def __str__(self) -> str:
        return gettext("#%(id)s: %(amount)s %(asset)s on account #%(account)s (transaction #%(transaction)s)") % {
            "id": self.pk,
            "amount": _signed_count(self.amount),
            "asset": Asset(self.asset).label if self.asset in Asset.values else self.asset,
            "account": self.account_id,
            "transaction": self.transaction_id,
        }


class LedgerRollupMark(models.Model):
    """One row: every append-only account's entries up to id `folded_through` are in its balance.

    The roll-up (`wallet.ledger.ledger_rollup_pending`) only looks for entries after it, so a run
    reads the entries posted since the last one, not the whole ledger.
    """

    folded_through = models.BigIntegerField(default=0, verbose_name=gettext_lazy("folded through"))
    # Its own mark, not `folded_through`: a previous release's roll-up, still running while the upgrade that
    # brought day totals runs, moves `folded_through` without adding to them.
    day_totals_through = models.BigIntegerField(
        default=0,
        db_default=0,
        help_text=gettext_lazy("User accounts' entries up to this id are in their day totals, later ones are not."),
        verbose_name=gettext_lazy("day totals through"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        verbose_name = gettext_lazy("ledger rollup mark")
        verbose_name_plural = gettext_lazy("ledger rollup marks")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="wallet_ledgerrollupmark_singleton")]

    def __str__(self) -> str:
        return gettext("Ledger rolled up through entry #%(entry)s") % {"entry": self.folded_through}


class LedgerDayTotal(models.Model):
    """A user account's entries of one UTC day and one transaction kind, summed by the roll-up.

    Monthly statements read a balance at a month's start and a month's moves by kind from these plus the
    entries after `LedgerRollupMark.day_totals_through`, not from every entry a busy creator ever had
    (docs/design.md §4). Derived from the entries, which stay the record; `ledger_audit` checks every total.
    """

    # No foreign-key check and no index of its own (the unique key leads with it): totals are derived data.
    account = models.ForeignKey(
        LedgerAccount,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
        verbose_name=gettext_lazy("account"),
    )
    day = models.DateField(verbose_name=gettext_lazy("day"))
    kind = models.CharField(max_length=64, verbose_name=gettext_lazy("kind"))
    amount = models.BigIntegerField(verbose_name=gettext_lazy("amount"))

    class Meta:
        verbose_name = gettext_lazy("ledger day total")
        verbose_name_plural = gettext_lazy("ledger day totals")
        constraints = [
            models.UniqueConstraint(fields=["account", "day", "kind"], name="wallet_ledgerdaytotal_unique"),
        ]

    def __str__(self) -> str:
        return gettext("Account #%(account)s on %(day)s, %(kind)s: %(amount)s") % {
            "account": self.account_id,
            "day": date_format(self.day),
            "kind": history_label(self.kind),
            "amount": _signed_count(self.amount),
        }


class LedgerAuditRun(models.Model):
    """The outcome of one daily ledger audit; one row per day makes a re-delivered task harmless."""

    run_date = models.DateField(unique=True, verbose_name=gettext_lazy("run date"))
    started_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("finished at"))
    is_clean = models.BooleanField(null=True, verbose_name=gettext_lazy("is clean"))
    problem_count = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("problem count"))
    report = models.JSONField(default=dict, blank=True, verbose_name=gettext_lazy("report"))
    alert_sent_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("alert sent at"))

    class Meta:
        verbose_name = gettext_lazy("ledger audit run")
        verbose_name_plural = gettext_lazy("ledger audit runs")
        ordering = ["-run_date"]

    def __str__(self) -> str:
        if self.is_clean is None:
            state = pgettext("ledger audit", "running")
        else:
            state = pgettext("ledger audit", "clean") if self.is_clean else pgettext("ledger audit", "FAILED")
        return gettext("Ledger audit of %(day)s: %(state)s") % {"day": date_format(self.run_date), "state": state}


# --- Catalogue: countries, coin packages and prices -----------------------------------------------


MAX_MINIMUM_AGE = 25


class Country(models.Model):
    """The economics of a country Coinsite is offered in: its currency, whether viewers there may
    recharge or gift, and how they pay. A country without a row is not offered (yet).

    The country itself (its code and name, in the viewer's language) comes from django-countries.
    """

    code = CountryField(
        primary_key=True, help_text=gettext_lazy("ISO 3166-1 alpha-2, e.g. US."), verbose_name=gettext_lazy("code")
    )
    currency = models.CharField(
        max_length=3,
        choices=currency_choices,
        help_text=gettext_lazy("ISO 4217 code prices are shown and charged in."),
        verbose_name=gettext_lazy("currency"),
    )
    recharge_enabled = models.BooleanField(default=True, verbose_name=gettext_lazy("recharge enabled"))
    gifting_enabled = models.BooleanField(default=True, verbose_name=gettext_lazy("gifting enabled"))
    payment_methods = models.JSONField(
        default=list,
        blank=True,
        help_text=gettext_lazy("Offered methods: card, paypal, google_pay, apple_pay, carrier_billing."),
        verbose_name=gettext_lazy("payment methods"),
    )
    recharge_unavailable_reason = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text=gettext_lazy("Shown to viewers when recharge is switched off."),
        verbose_name=gettext_lazy("recharge unavailable reason"),
    )
    minimum_age = models.PositiveSmallIntegerField(
        default=ADULT_AGE,
        help_text=gettext_lazy(
            "The youngest age at which people here may buy coins and send gifts (19 in South Korea)."
        ),
        verbose_name=gettext_lazy("minimum age"),
    )

    class Meta:
        verbose_name = gettext_lazy("country")
        ordering = ["code"]
        verbose_name_plural = gettext_lazy("countries")
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z]{2}$"), name="wallet_country_code_format"),
            models.CheckConstraint(condition=Q(currency__regex=r"^[A-Z]{3}$"), name="wallet_country_currency_format"),
            # Coins are for adults everywhere: a country may only ask for more than the site-wide age.
            models.CheckConstraint(
                condition=Q(minimum_age__gte=ADULT_AGE, minimum_age__lte=MAX_MINIMUM_AGE),
                name="wallet_country_minimum_age_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def name(self) -> str:
        """The country's name in the active language (django-countries)."""
        return str(countries.name(self.code))

    def clean(self) -> None:
        if self.currency not in CURRENCY_EXPONENTS:
            raise ValidationError(
                {"currency": gettext("Coinsite does not sell coins in %(currency)s.") % {"currency": self.currency}}
            )
        methods = self.payment_methods
        if not isinstance(methods, list) or any(not isinstance(m, str) or m not in PAYMENT_METHODS for m in methods):
            raise ValidationError(
                {"payment_methods": gettext("Choose from %(methods)s.") % {"methods": ", ".join(PAYMENT_METHODS)}}
            )


class CoinPackage(models.Model):
    """A bundle of coins sold at a fixed price per currency (prices are set, never converted)."""

    coins = models.PositiveIntegerField(verbose_name=gettext_lazy("coins"))
    bonus_coins = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("bonus coins"))
    is_active = models.BooleanField(default=True, verbose_name=gettext_lazy("is active"))
    sort_order = models.PositiveSmallIntegerField(default=0, verbose_name=gettext_lazy("sort order"))

    class Meta:
        verbose_name = gettext_lazy("coin package")
        verbose_name_plural = gettext_lazy("coin packages")
        ordering = ["sort_order", "coins"]
        constraints = [models.CheckConstraint(condition=Q(coins__gt=0), name="wallet_coinpackage_coins_positive")]

    def __str__(self) -> str:
        """ "7,000 coins +350 bonus" in the active language ("7.000 Münzen +350 Bonus")."""
        coins = ngettext("%(count)s coin", "%(count)s coins", self.coins) % {"count": format_count(self.coins)}
        if not self.bonus_coins:
            return coins
        return f"{coins} {gettext('+%(bonus)s bonus') % {'bonus': format_count(self.bonus_coins)}}"

    @property
    def total_coins(self) -> int:
        return self.coins + self.bonus_coins


class CoinPackagePrice(models.Model):
    package = models.ForeignKey(
        CoinPackage, on_delete=models.CASCADE, related_name="prices", verbose_name=gettext_lazy("package")
    )
    price = MoneyField(
        currency_choices=currency_choices,
        max_digits=14,
        decimal_places=2,
        default_currency="USD",
        verbose_name=gettext_lazy("price"),
    )

    class Meta:
        verbose_name = gettext_lazy("coin package price")
        verbose_name_plural = gettext_lazy("coin package prices")
        ordering = ["package", "price_currency"]
        constraints = [
            models.UniqueConstraint(fields=["package", "price_currency"], name="wallet_packageprice_one_per_currency"),
            models.CheckConstraint(condition=Q(price__gt=0), name="wallet_packageprice_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.package}: {format_money(self.price)}"


class CoinRate(CachedTableModel):
    """The base price of one coin in a currency: what a custom amount costs, and what coins are worth.

    Read whole from the cache (`wallet.selectors.coin_rate`); saving or deleting a rate drops it."""

    per_coin = MoneyField(
        currency_choices=currency_choices,
        max_digits=14,
        decimal_places=6,
        default_currency="USD",
        verbose_name=gettext_lazy("per coin"),
    )
    min_coins = models.PositiveIntegerField(default=30, verbose_name=gettext_lazy("min coins"))
    max_coins = models.PositiveIntegerField(default=250_000, verbose_name=gettext_lazy("max coins"))

    class Meta:
        verbose_name = gettext_lazy("coin rate")
        verbose_name_plural = gettext_lazy("coin rates")
        ordering = ["per_coin_currency"]
        constraints = [
            models.UniqueConstraint(fields=["per_coin_currency"], name="wallet_coinrate_one_per_currency"),
            models.CheckConstraint(condition=Q(per_coin__gt=0), name="wallet_coinrate_positive"),
            models.CheckConstraint(
                condition=Q(min_coins__gte=1) & Q(max_coins__gte=F("min_coins")), name="wallet_coinrate_bounds"
            ),
        ]

    def __str__(self) -> str:
        """ "1 coin = $0.0141" in the active language, to the fraction of a cent a per-coin price has."""
        return gettext("1 coin = %(price)s") % {"price": format_unit_price(self.per_coin)}


# --- Top-ups --------------------------------------------------------------------------------------


class TopUpStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("top-up status", "Waiting for payment")
    SUCCEEDED = "succeeded", pgettext_lazy("top-up status", "Paid")
    FAILED = "failed", pgettext_lazy("top-up status", "Payment failed")
    CANCELLED = "cancelled", pgettext_lazy("top-up status", "Cancelled")
    EXPIRED = "expired", pgettext_lazy("top-up status", "Expired")
    # Paid from another country than the account's: not credited until staff release it (wallet.held_topups).
    HELD = "held", gettext_lazy("Held for review")
    REFUNDED = "refunded", gettext_lazy("Refunded after review")


class TopUp(models.Model):
    """One recharge: coins bought for money through a payment provider, credited exactly once on success."""

    public_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, verbose_name=gettext_lazy("public id")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="topups", verbose_name=gettext_lazy("user")
    )
    package = models.ForeignKey(
        CoinPackage,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("package"),
    )
    coins = models.PositiveIntegerField(verbose_name=gettext_lazy("coins"))
    bonus_coins = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("bonus coins"))
    amount = MoneyField(
        currency_choices=currency_choices,
        max_digits=14,
        decimal_places=2,
        default_currency="USD",
        verbose_name=gettext_lazy("amount"),
    )
    country = models.CharField(max_length=2, verbose_name=gettext_lazy("country"))
    payment_method = models.CharField(max_length=20, verbose_name=gettext_lazy("payment method"))
    provider = models.CharField(max_length=20, verbose_name=gettext_lazy("provider"))
    provider_session_id = models.CharField(
        max_length=200, blank=True, default="", verbose_name=gettext_lazy("provider session id")
    )
    payment_country = models.CharField(
        max_length=2,
        blank=True,
        default="",
        help_text=gettext_lazy("The billing or card country the provider reported."),
        verbose_name=gettext_lazy("payment country"),
    )
    status = models.CharField(
        max_length=10, choices=TopUpStatus.choices, default=TopUpStatus.PENDING, verbose_name=gettext_lazy("status")
    )
    status_reason = models.CharField(max_length=200, blank=True, default="", verbose_name=gettext_lazy("status reason"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))
    expires_at = models.DateTimeField(verbose_name=gettext_lazy("expires at"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("completed at"))
    ledger_transaction = models.OneToOneField(
        LedgerTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="topup",
        verbose_name=gettext_lazy("ledger transaction"),
    )
    receipt_sent_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("receipt sent at"))
    # Coins of this top-up taken at once to pay what the viewer owed after an earlier refund or chargeback.
    debt_settled_coins = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("debt settled coins"))
    # A paid top-up stays `succeeded` (the payment happened); a refund or chargeback is recorded here.
    reversal = models.CharField(
        max_length=12,
        blank=True,
        default="",
        choices=[
            ("refund", pgettext_lazy("top-up reversal", "Refunded")),
            ("chargeback", gettext_lazy("Charged back")),
        ],
        verbose_name=gettext_lazy("reversal"),
    )
    reversal_reason = models.CharField(
        max_length=300, blank=True, default="", verbose_name=gettext_lazy("reversal reason")
    )
    reversed_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("reversed at"))
    reversal_transaction = models.OneToOneField(
        LedgerTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_topup",
        verbose_name=gettext_lazy("reversal transaction"),
    )
    reversal_email_sent_at = models.DateTimeField(
        null=True, blank=True, verbose_name=gettext_lazy("reversal email sent at")
    )

    class Meta:
        verbose_name = gettext_lazy("top-up")
        verbose_name_plural = gettext_lazy("top-ups")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="wallet_topup_user_created"),
            models.Index(fields=["status", "expires_at"], name="wallet_topup_status_expiry"),
            # The mail sweep's reads (services.wallet_emails_unsent): only the few emails not sent yet.
            models.Index(
                fields=["completed_at"],
                condition=Q(status=TopUpStatus.SUCCEEDED, receipt_sent_at__isnull=True),
                name="wallet_topup_receipt_unsent",
            ),
            models.Index(
                fields=["reversed_at"],
                condition=~Q(reversal="") & Q(reversal_email_sent_at__isnull=True),
                name="wallet_topup_notice_unsent",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(coins__gt=0), name="wallet_topup_coins_positive"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="wallet_topup_amount_positive"),
            # Coins were credited if and only if the top-up succeeded.
            models.CheckConstraint(
                condition=Q(status=TopUpStatus.SUCCEEDED, ledger_transaction__isnull=False)
                | (~Q(status=TopUpStatus.SUCCEEDED) & Q(ledger_transaction__isnull=True)),
                name="wallet_topup_credited_iff_succeeded",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_session_id"],
                condition=~Q(provider_session_id=""),
                name="wallet_topup_unique_provider_session",
            ),
            # Only a credited top-up can be reversed, and a reversal always posted its clawback.
            models.CheckConstraint(
                condition=Q(reversal="", reversal_transaction__isnull=True, reversed_at__isnull=True)
                | (
                    Q(
                        status=TopUpStatus.SUCCEEDED,
                        reversal__in=["refund", "chargeback"],
                        reversal_transaction__isnull=False,
                        reversed_at__isnull=False,
                    )
                ),
                name="wallet_topup_reversal_consistent",
            ),
        ]

    def __str__(self) -> str:
        """What admin lists and screen readers name it by, in the active language."""
        coins = ngettext("%(count)s coin", "%(count)s coins", self.total_coins) % {
            "count": format_count(self.total_coins)
        }
        return gettext("Top-up %(id)s (%(coins)s, %(price)s, %(status)s)") % {
            "id": self.public_id,
            "coins": coins,
            "price": format_money(self.amount),
            "status": self.get_status_display(),
        }

    @property
    def total_coins(self) -> int:
        return self.coins + self.bonus_coins

    @property
    def is_final(self) -> bool:
        return self.status != TopUpStatus.PENDING

    @property
    def status_label(self) -> str:
        """What the viewer reads: Refunded or Charged back once reversed, else the status (Paid, ...)."""
        return str(self.get_reversal_display() if self.reversal else self.get_status_display())

    @property
    def status_tone(self) -> str:
        """The badge's tone: ok (paid), warn (waiting or under review) or muted (not paid, or reversed)."""
        if self.reversal:
            return "muted"
        if self.status == TopUpStatus.SUCCEEDED:
            return "ok"
        return "warn" if self.status in (TopUpStatus.PENDING, TopUpStatus.HELD) else "muted"

    @property
    def was_charged(self) -> bool:
        """Whether the payer's money was taken (paid, or paid and then held or refunded after review)."""
        return self.status in (TopUpStatus.SUCCEEDED, TopUpStatus.HELD, TopUpStatus.REFUNDED)

    @property
    def coins_to_spend(self) -> int:
        """The top-up's coins left to spend after paying what the viewer owed at the time."""
        return self.total_coins - self.debt_settled_coins


class PaymentWebhookEvent(models.Model):
    """A provider event we have processed; the unique (provider, event_id) makes replays harmless."""

    provider = models.CharField(max_length=20, verbose_name=gettext_lazy("provider"))
    event_id = models.CharField(max_length=200, verbose_name=gettext_lazy("event id"))
    event_type = models.CharField(max_length=20, verbose_name=gettext_lazy("event type"))
    topup = models.ForeignKey(
        TopUp,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhook_events",
        verbose_name=gettext_lazy("topup"),
    )
    outcome = models.CharField(max_length=200, verbose_name=gettext_lazy("outcome"))
    received_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("received at"))

    class Meta:
        verbose_name = gettext_lazy("payment webhook event")
        verbose_name_plural = gettext_lazy("payment webhook events")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="wallet_webhookevent_unique_event"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id} ({self.event_type}): {self.outcome}"


# --- Spending controls ----------------------------------------------------------------------------


class SpendingControls(models.Model):
    """A viewer's own limits: daily and monthly coin budgets and a self-exclusion pause.

    A limit of None means no limit. Lowering a limit applies at once; raising (or removing) one is
    stored in the `*_next` fields and applies from `*_next_at`, 24 hours later, so a moment of
    impulse cannot undo a decision made calmly. `excluded_until` only ever moves later.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="spending_controls",
        verbose_name=gettext_lazy("user"),
    )
    daily_limit = models.PositiveBigIntegerField(null=True, blank=True, verbose_name=gettext_lazy("daily limit"))
    monthly_limit = models.PositiveBigIntegerField(null=True, blank=True, verbose_name=gettext_lazy("monthly limit"))
    daily_limit_next = models.PositiveBigIntegerField(
        null=True, blank=True, verbose_name=gettext_lazy("daily limit next")
    )
    daily_limit_next_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("daily limit next at"))
    monthly_limit_next = models.PositiveBigIntegerField(
        null=True, blank=True, verbose_name=gettext_lazy("monthly limit next")
    )
    monthly_limit_next_at = models.DateTimeField(
        null=True, blank=True, verbose_name=gettext_lazy("monthly limit next at")
    )
    excluded_until = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("excluded until"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        verbose_name = gettext_lazy("spending controls")
        verbose_name_plural = gettext_lazy("spending controls")
        constraints = [
            models.CheckConstraint(
                condition=Q(daily_limit__isnull=True) | Q(daily_limit__gt=0), name="wallet_spending_daily_positive"
            ),
            models.CheckConstraint(
                condition=Q(monthly_limit__isnull=True) | Q(monthly_limit__gt=0),
                name="wallet_spending_monthly_positive",
            ),
        ]

    def __str__(self) -> str:
        return gettext("Spending controls of user %(user)s") % {"user": self.user_id}


# --- Economics: the staff-set numbers the product runs on (docs/design.md §2) ----------------------------


class EconomySettings(SingletonModel):
    """The one row of staff-set wallet economics: what a diamond is worth and when a correction needs
    a second staff member.

    Read through `wallet.selectors.economy()` (cached; see `coinsite.lib.singletons`); the defaults are
    docs/design.md §2's. Gifting and payout rules live in their own apps' settings (`gifting.GiftingSettings`,
    `payouts.PayoutSettings`). Staff change them in admin; every value is shown to the users it affects.
    """

    diamond_value = MoneyField(
        currency_choices=currency_choices,
        max_digits=12,
        decimal_places=6,
        default=0.005,
        default_currency="USD",
        help_text=gettext_lazy("What one diamond pays out (the creator share made explicit)."),
        verbose_name=gettext_lazy("diamond value"),
    )
    adjustment_approval_above = models.PositiveIntegerField(
        default=10_000,
        help_text=gettext_lazy(
            "Balance corrections larger than this many coins or diamonds need a second staff member's approval."
        ),
        verbose_name=gettext_lazy("adjustment approval above"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        verbose_name = verbose_name_plural = gettext_lazy("economy settings")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="wallet_economysettings_singleton"),
            models.CheckConstraint(condition=Q(diamond_value__gt=0), name="wallet_economysettings_diamond_positive"),
        ]

    def __str__(self) -> str:
        return gettext("Economy settings")


# --- Staff operations: freezes, receivables, corrections (docs/design.md §3 "Staff") -----------------------


class WalletFreeze(models.Model):
    """A frozen wallet: no recharges, gifts or payout requests until staff lift it. No row: not frozen."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="wallet_freeze",
        verbose_name=gettext_lazy("user"),
    )
    reason = models.CharField(
        max_length=300, help_text=gettext_lazy("Shown to the user."), verbose_name=gettext_lazy("reason")
    )
    frozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=gettext_lazy("frozen by")
    )
    frozen_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("frozen at"))
    # An account freeze emails the user why ("your account is frozen"); True until a task claims that email.
    # A wallet-only freeze sends none: the pages show its reason. The database default lets the previous
    # release, which does not know the column, keep freezing during an upgrade (docs/operations.md).
    notice_pending = models.BooleanField(default=False, db_default=False, verbose_name=gettext_lazy("notice pending"))

    class Meta:
        verbose_name = gettext_lazy("wallet freeze")
        verbose_name_plural = gettext_lazy("wallet freezes")
        indexes = [
            # The mail sweep's read of notices not sent yet (services.wallet_emails_unsent).
            models.Index(fields=["frozen_at"], condition=Q(notice_pending=True), name="wallet_freeze_notice_unsent"),
        ]

    def __str__(self) -> str:
        return gettext("Wallet of user %(user)s frozen: %(reason)s") % {"user": self.user_id, "reason": self.reason}


class CoinReceivable(models.Model):
    """Coins a viewer owes after a refund or chargeback of coins they had already spent.

    Until it is settled (by their next top-ups) the viewer cannot spend: gifting checks for an
    outstanding receivable in the same query that reads the gift (gifting.services).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="coin_receivables",
        verbose_name=gettext_lazy("user"),
    )
    topup = models.OneToOneField(
        TopUp, on_delete=models.PROTECT, related_name="receivable", verbose_name=gettext_lazy("topup")
    )
    coins = models.BigIntegerField(verbose_name=gettext_lazy("coins"))
    settled_coins = models.BigIntegerField(default=0, verbose_name=gettext_lazy("settled coins"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    settled_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("settled at"))

    class Meta:
        verbose_name = gettext_lazy("coin receivable")
        verbose_name_plural = gettext_lazy("coin receivables")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["user"], condition=Q(settled_at__isnull=True), name="wallet_receivable_open")]
        constraints = [
            models.CheckConstraint(
                condition=Q(coins__gt=0) & Q(settled_coins__gte=0) & Q(settled_coins__lte=F("coins")),
                name="wallet_receivable_amounts",
            ),
            models.CheckConstraint(
                condition=Q(settled_at__isnull=True) | Q(settled_coins=F("coins")),
                name="wallet_receivable_settled_when_paid",
            ),
        ]

    def __str__(self) -> str:
        return ngettext(
            "%(outstanding)s of %(coins)s coin owed by user %(user)s",
            "%(outstanding)s of %(coins)s coins owed by user %(user)s",
            self.coins,
        ) % {"outstanding": format_count(self.outstanding), "coins": format_count(self.coins), "user": self.user_id}

    @property
    def outstanding(self) -> int:
        return self.coins - self.settled_coins


class AdjustmentStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("adjustment status", "Waiting for a second approval")
    POSTED = "posted", pgettext_lazy("adjustment status", "Posted")
    REJECTED = "rejected", pgettext_lazy("adjustment status", "Rejected")


class Adjustment(models.Model):
    """A staff correction of a user's coins or diamonds, posted as a ledger transaction with a reason.

    Above `EconomySettings.adjustment_approval_above` it waits for a second staff member, never
    the requester (a constraint holds it).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="adjustments",
        verbose_name=gettext_lazy("user"),
    )
    asset = models.CharField(max_length=8, choices=Asset.choices, verbose_name=gettext_lazy("asset"))
    amount = models.BigIntegerField(
        help_text=gettext_lazy("Positive adds to the balance, negative takes from it."),
        verbose_name=gettext_lazy("amount"),
    )
    reason = models.TextField(verbose_name=gettext_lazy("reason"))
    status = models.CharField(
        max_length=10,
        choices=AdjustmentStatus.choices,
        default=AdjustmentStatus.PENDING,
        verbose_name=gettext_lazy("status"),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=gettext_lazy("requested by")
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
    ledger_transaction = models.OneToOneField(
        LedgerTransaction,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="adjustment",
        verbose_name=gettext_lazy("ledger transaction"),
    )

    class Meta:
        verbose_name = gettext_lazy("adjustment")
        verbose_name_plural = gettext_lazy("adjustments")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_adjustment_amount_nonzero"),
            models.CheckConstraint(
                condition=Q(reviewed_by__isnull=True) | ~Q(reviewed_by=F("requested_by")),
                name="wallet_adjustment_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(status=AdjustmentStatus.POSTED, ledger_transaction__isnull=False)
                | (~Q(status=AdjustmentStatus.POSTED) & Q(ledger_transaction__isnull=True)),
                name="wallet_adjustment_posted_iff_ledger",
            ),
        ]

    def __str__(self) -> str:
        values = {
            "id": self.pk,
            "amount": _signed_count(self.amount),
            "user": self.user,
            "status": self.get_status_display(),
        }
        if self.asset == Asset.DIAMOND:
            return gettext("Adjustment %(id)s: %(amount)s diamonds for %(user)s (%(status)s)") % values
        return gettext("Adjustment %(id)s: %(amount)s coins for %(user)s (%(status)s)") % values
