from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from djmoney.money import Money

from coinsite.accounts.admin import UserAdmin
from coinsite.accounts.admin_actions import reason_action, service_action
from coinsite.accounts.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from coinsite.accounts.models import User
from coinsite.lib.currencies import CURRENCY_EXPONENTS
from wallet import staff
from wallet.models import (
    Adjustment,
    AdjustmentStatus,
    Asset,
    CoinPackage,
    CoinPackagePrice,
    CoinRate,
    CoinReceivable,
    Country,
    EconomySettings,
    LedgerAccount,
    LedgerAuditRun,
    LedgerBalanceDelta,
    LedgerEntry,
    LedgerTransaction,
    PaymentWebhookEvent,
    SpendingControls,
    TopUp,
    WalletFreeze,
)
from wallet.selectors import economy

__all__ = ["ReadOnlyAdminMixin"]  # gifting and payouts admins import it from here

# Bounds staff may set the economy to; outside them a typo would hurt creators or viewers.
EARNINGS_HOLD_DAYS = (0, 90)
PAYOUT_METHOD_HOLD_HOURS = (0, 720)
EXCHANGE_RATE_MAX_AGE_HOURS = (1, 720)


def money_error(value: Money | None, *, what: str, allow_fractions: bool = False) -> str | None:
    """Why `value` cannot be a price in the catalogue (None when it can)."""
    if value is None:
        return f"Enter the {what}."
    code = value.currency.code
    if code not in CURRENCY_EXPONENTS:
        return f"Coinsite does not sell coins in {code}: use one of {', '.join(CURRENCY_EXPONENTS)}."
    if value.amount <= 0:
        return f"The {what} must be more than zero."
    exponent = CURRENCY_EXPONENTS[code]
    if not allow_fractions and value.amount != value.amount.quantize(Decimal(1).scaleb(-exponent)):
        return f"{code} has {exponent} decimal places; {value.amount} has more."
    return None


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "code", "user", "asset", "current_balance", "append_only_balance", "created_at"]
    list_filter = ["kind", "asset", "append_only_balance"]
    search_fields = ["code", "user__email", "user__display_name"]
    list_select_related = ["user"]

    def get_queryset(self, request):
        pending = (
            LedgerBalanceDelta.objects.filter(account=OuterRef("pk"))
            .order_by()
            .values("account")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return (
            super().get_queryset(request).annotate(current_balance=F("balance") + Coalesce(Subquery(pending), Value(0)))
        )

    @admin.display(description="balance", ordering="current_balance")
    def current_balance(self, account):
        return account.current_balance


class LedgerEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LedgerEntry
    fields = ["id", "account", "asset", "amount"]
    readonly_fields = fields
    extra = 0


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "idempotency_key", "memo", "created_at"]
    list_filter = ["kind"]
    search_fields = ["=id", "idempotency_key", "memo"]
    inlines = [LedgerEntryInline]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "transaction", "account", "asset", "amount", "created_at"]
    list_filter = ["asset", "account__kind"]
    search_fields = ["=transaction__id", "=account__id", "transaction__idempotency_key", "account__user__email"]
    list_select_related = ["transaction", "account"]
    show_full_result_count = False


@admin.register(LedgerBalanceDelta)
class LedgerBalanceDeltaAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Cached-balance changes not yet rolled up: evidence, never edited."""

    list_display = ["id", "account", "amount"]
    list_filter = ["account__kind", "account__asset"]
    search_fields = ["=account__id", "account__code", "account__user__email"]
    list_select_related = ["account", "account__user"]
    show_full_result_count = False


@admin.register(LedgerAuditRun)
class LedgerAuditRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["run_date", "is_clean", "problem_count", "started_at", "finished_at", "alert_sent_at"]
    list_filter = ["is_clean"]
    date_hierarchy = "started_at"


# --- Catalogue (editable by staff) ---------------------------------------------------------------


@admin.register(Country)
class CountryAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Country.clean checks the currency against the currency table and the payment methods."""

    list_display = ["code", "name", "currency", "recharge_enabled", "gifting_enabled", "payment_methods"]
    list_filter = ["currency", "recharge_enabled", "gifting_enabled"]
    search_fields = ["code", "name"]

    def has_delete_permission(self, request, obj=None):
        # Users and top-ups name their country; switch recharge or gifting off instead.
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class CoinPackagePriceForm(forms.ModelForm):
    class Meta:
        model = CoinPackagePrice
        fields = ["package", "price"]

    def clean_price(self):
        price = self.cleaned_data.get("price")
        if error := money_error(price, what="price"):
            raise forms.ValidationError(error)
        return price


class CoinPackagePriceInline(admin.TabularInline):
    model = CoinPackagePrice
    form = CoinPackagePriceForm
    extra = 0


@admin.register(CoinPackage)
class CoinPackageAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "coins", "bonus_coins", "prices_list", "is_active", "sort_order"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active"]
    inlines = [CoinPackagePriceInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("prices")

    @admin.display(description="prices")
    def prices_list(self, package):
        return ", ".join(str(price.price) for price in package.prices.all())


@admin.register(CoinPackagePrice)
class CoinPackagePriceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = CoinPackagePriceForm
    list_display = ["package", "price", "price_currency"]
    list_filter = ["price_currency", "package__is_active"]
    search_fields = ["=package__coins"]
    list_select_related = ["package"]


class CoinRateForm(forms.ModelForm):
    class Meta:
        model = CoinRate
        fields = ["per_coin", "min_coins", "max_coins"]

    def clean_per_coin(self):
        per_coin = self.cleaned_data.get("per_coin")
        if error := money_error(per_coin, what="price of one coin", allow_fractions=True):
            raise forms.ValidationError(error)
        return per_coin

    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("min_coins"), cleaned.get("max_coins")
        if low is not None and low < 1:
            self.add_error("min_coins", "A custom amount is at least 1 coin.")
        elif low is not None and high is not None and high < low:
            self.add_error("max_coins", "The largest custom amount cannot be below the smallest.")
        return cleaned


@admin.register(CoinRate)
class CoinRateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = CoinRateForm
    list_display = ["per_coin_currency", "per_coin", "min_coins", "max_coins"]
    list_filter = ["per_coin_currency"]


# --- Money records (read-only) -------------------------------------------------------------------


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "public_id",
        "user",
        "total_coins",
        "amount",
        "payment_method",
        "provider",
        "status",
        "created_at",
        "completed_at",
    ]
    list_filter = ["status", "provider", "payment_method", "amount_currency", "country"]
    search_fields = ["public_id", "user__email", "provider_session_id"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(PaymentWebhookEvent)
class PaymentWebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["provider", "event_id", "event_type", "topup", "outcome", "received_at"]
    list_filter = ["provider", "event_type"]
    search_fields = ["event_id", "topup__public_id"]
    list_select_related = ["topup"]
    date_hierarchy = "received_at"
    show_full_result_count = False


@admin.register(SpendingControls)
class SpendingControlsAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Limits and self-exclusion are the viewer's own choices; staff look, never change them."""

    list_display = ["user", "daily_limit", "monthly_limit", "excluded_until", "updated_at"]
    list_filter = [("excluded_until", admin.EmptyFieldListFilter)]
    search_fields = ["user__email"]
    list_select_related = ["user"]


class EconomySettingsForm(forms.ModelForm):
    class Meta:
        model = EconomySettings
        # Every setting, so a threshold added to the model later shows up without touching the admin.
        fields = [
            field.name
            for field in EconomySettings._meta.concrete_fields
            if field.editable and not field.primary_key and not field.name.endswith("_currency")
        ]

    def clean(self):
        cleaned = super().clean()
        self._check_money(cleaned)
        self._check_range(cleaned, "earnings_hold_days", EARNINGS_HOLD_DAYS, "days")
        self._check_range(cleaned, "payout_method_hold_hours", PAYOUT_METHOD_HOLD_HOURS, "hours")
        self._check_range(cleaned, "exchange_rate_max_age_hours", EXCHANGE_RATE_MAX_AGE_HOURS, "hours")
        confirm = cleaned.get("gift_confirm_above_coins")
        if confirm is not None and confirm < 1:
            self.add_error("gift_confirm_above_coins", "The large-gift confirmation threshold is at least 1 coin.")
        return cleaned

    def _check_money(self, cleaned) -> None:
        diamond, minimum, approval = (
            cleaned.get(name) for name in ("diamond_value", "payout_minimum", "payout_approval_above")
        )
        if diamond is not None and (error := money_error(diamond, what="diamond value", allow_fractions=True)):
            self.add_error("diamond_value", error)
            return
        for name, value in (("payout_minimum", minimum), ("payout_approval_above", approval)):
            if value is None or diamond is None:
                continue
            if value.currency != diamond.currency:
                self.add_error(name, f"Use the diamond value's currency, {diamond.currency.code}.")
            elif value.amount <= 0:
                self.add_error(name, "This must be more than zero.")
        if (
            minimum is not None
            and approval is not None
            and minimum.currency == approval.currency
            and approval < minimum
        ):
            self.add_error("payout_approval_above", "The approval threshold cannot be below the payout minimum.")

    def _check_range(self, cleaned, name: str, bounds: tuple[int, int], unit: str) -> None:
        value = cleaned.get(name)
        low, high = bounds
        if value is not None and not low <= value <= high:
            self.add_error(name, f"Choose between {low} and {high} {unit}.")


@admin.register(EconomySettings)
class EconomySettingsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """The one row of staff-set economics; it cannot be added twice or deleted."""

    form = EconomySettingsForm
    list_display = [
        "__str__",
        "diamond_value",
        "gift_confirm_above_coins",
        "payout_minimum",
        "payout_approval_above",
        "earnings_hold_days",
        "payout_method_hold_hours",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not EconomySettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


# --- Staff operations (posted by wallet.staff services; read-only here) ------------------------------


@admin.register(WalletFreeze)
class WalletFreezeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "reason", "frozen_by", "frozen_at"]
    search_fields = ["user__email", "reason"]
    list_select_related = ["user", "frozen_by"]
    date_hierarchy = "frozen_at"


@admin.register(CoinReceivable)
class CoinReceivableAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "topup", "coins", "settled_coins", "created_at", "settled_at"]
    list_filter = [("settled_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "topup__public_id"]
    list_select_related = ["user", "topup"]
    date_hierarchy = "created_at"


@admin.register(Adjustment)
class AdjustmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Corrections are requested here (finance) and posted by `wallet.staff`, never edited: large ones need
    a second staff member's approval, never the requester's."""

    list_display = ["id", "user", "asset", "amount", "status", "requested_by", "requested_at", "reviewed_by"]
    list_filter = ["status", "asset"]
    search_fields = ["=id", "user__email", "requested_by__email", "reason"]
    list_select_related = ["user", "requested_by", "reviewed_by"]
    date_hierarchy = "requested_at"
    actions = ["approve", "reject"]

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("wallet.add_adjustment")

    def has_review_permission(self, request):
        return request.user.has_perm("wallet.change_adjustment")

    def add_view(self, request, form_url="", extra_context=None):
        """The add page asks for the correction and posts it through the service (or leaves it pending)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AdjustmentRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                adjustment = staff.adjustment_request(staff=request.user, **form.cleaned_data)
            except staff.StaffOperationError as error:
                form.add_error(None, str(error))
            else:
                state = "posted" if adjustment.status == AdjustmentStatus.POSTED else "waiting for a second approval"
                self.message_user(request, f"Adjustment {adjustment.pk} {state}.", messages.SUCCESS)
                return redirect("admin:wallet_adjustment_changelist")
        return TemplateResponse(
            request,
            "admin/wallet/adjustment_request.html",
            {
                **self.admin_site.each_context(request),
                "title": "Correct a balance",
                "form": form,
                "opts": self.model._meta,
                "threshold": economy().adjustment_approval_above,
            },
            status=400 if form.errors else 200,
        )

    approve = service_action(
        name="approve",
        description="Approve selected adjustments (second staff member)",
        permissions=("review",),
        perform=lambda request, adjustment: staff.adjustment_approve(adjustment_id=adjustment.pk, staff=request.user),
        errors=(staff.StaffOperationError,),
        done="adjustment(s) posted",
    )

    reject = reason_action(
        name="reject",
        description="Reject selected adjustments",
        permissions=("review",),
        perform=lambda request, adjustment, reason: staff.adjustment_reject(
            adjustment_id=adjustment.pk, staff=request.user, reason=reason
        ),
        errors=(staff.StaffOperationError,),
        done="adjustment(s) rejected",
    )


class AdjustmentRequestForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.order_by("email"), widget=forms.NumberInput, help_text="The user's id (see Users)."
    )
    asset = forms.ChoiceField(choices=Asset.choices)
    amount = forms.IntegerField(help_text="Positive adds to the balance, negative takes from it.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=1000)


class StaffUserAdmin(UserAdmin):
    """Users, with wallet and account freezes (support) as actions that ask for a reason."""

    actions = ["freeze_wallet", "unfreeze_wallet", "freeze_account", "unfreeze_account"]

    def has_freeze_permission(self, request):
        return request.user.has_perm("wallet.add_walletfreeze")

    def has_account_permission(self, request):
        return request.user.has_perm("accounts.change_user")

    freeze_wallet = reason_action(
        name="freeze_wallet",
        description="Freeze wallets (no recharges, gifts or payouts)",
        permissions=("freeze",),
        perform=lambda request, user, reason: staff.wallet_freeze(user=user, staff=request.user, reason=reason),
        errors=(staff.StaffOperationError,),
        done="wallet(s) frozen",
    )
    unfreeze_wallet = reason_action(
        name="unfreeze_wallet",
        description="Lift wallet freezes",
        permissions=("freeze",),
        perform=lambda request, user, reason: staff.wallet_unfreeze(user=user, staff=request.user, reason=reason),
        errors=(staff.StaffOperationError,),
        done="wallet(s) unfrozen",
    )
    freeze_account = reason_action(
        name="freeze_account",
        description="Freeze accounts (no login; the user is emailed the reason)",
        permissions=("account",),
        perform=lambda request, user, reason: staff.account_freeze(user=user, staff=request.user, reason=reason),
        errors=(staff.StaffOperationError,),
        done="account(s) frozen",
    )
    unfreeze_account = reason_action(
        name="unfreeze_account",
        description="Lift account freezes",
        permissions=("account",),
        perform=lambda request, user, reason: staff.account_unfreeze(user=user, staff=request.user, reason=reason),
        errors=(staff.StaffOperationError,),
        done="account(s) unfrozen",
    )


admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
