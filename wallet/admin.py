from django.contrib import admin
from django.db.models import F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from wallet.models import (
    CoinPackage,
    CoinPackagePrice,
    CoinRate,
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
)


class ReadOnlyAdminMixin:
    """Ledger rows are never edited in admin: corrections are new transactions posted by services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "code", "user", "asset", "current_balance", "append_only_balance", "created_at"]
    list_filter = ["kind", "asset", "append_only_balance"]
    search_fields = ["code", "user__email", "user__display_name"]
    list_select_related = ["user"]

    def get_queryset(self, request):
        pending = (LedgerBalanceDelta.objects.filter(account=OuterRef("pk")).order_by()
                   .values("account").annotate(total=Sum("amount")).values("total"))
        return super().get_queryset(request).annotate(
            current_balance=F("balance") + Coalesce(Subquery(pending), Value(0)))

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
    show_full_result_count = False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "transaction", "account", "asset", "amount", "created_at"]
    list_filter = ["asset"]
    search_fields = ["=transaction__id", "=account__id", "transaction__idempotency_key"]
    list_select_related = ["transaction", "account"]
    show_full_result_count = False


@admin.register(LedgerAuditRun)
class LedgerAuditRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["run_date", "is_clean", "problem_count", "started_at", "finished_at", "alert_sent_at"]
    list_filter = ["is_clean"]


# --- Catalogue (editable by staff) ---------------------------------------------------------------


@admin.register(Country)
class CountryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "currency", "recharge_enabled", "gifting_enabled", "payment_methods"]
    list_filter = ["currency", "recharge_enabled", "gifting_enabled"]
    search_fields = ["code", "name"]


class CoinPackagePriceInline(admin.TabularInline):
    model = CoinPackagePrice
    extra = 0


@admin.register(CoinPackage)
class CoinPackageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "coins", "bonus_coins", "is_active", "sort_order"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active"]
    inlines = [CoinPackagePriceInline]


@admin.register(CoinRate)
class CoinRateAdmin(admin.ModelAdmin):
    list_display = ["per_coin_currency", "per_coin", "min_coins", "max_coins"]


# --- Money records (read-only) -------------------------------------------------------------------


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["public_id", "user", "total_coins", "amount", "payment_method", "provider", "status",
                    "created_at", "completed_at"]
    list_filter = ["status", "provider", "payment_method", "amount_currency", "country"]
    search_fields = ["public_id", "user__email", "provider_session_id"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"


@admin.register(PaymentWebhookEvent)
class PaymentWebhookEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["provider", "event_id", "event_type", "topup", "outcome", "received_at"]
    list_filter = ["provider", "event_type"]
    search_fields = ["event_id", "topup__public_id"]


@admin.register(SpendingControls)
class SpendingControlsAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "daily_limit", "monthly_limit", "excluded_until", "updated_at"]
    search_fields = ["user__email"]


@admin.register(EconomySettings)
class EconomySettingsAdmin(admin.ModelAdmin):
    """The one row of staff-set economics; it cannot be added twice or deleted."""

    list_display = ["__str__", "diamond_value", "gift_confirm_above_coins", "payout_minimum",
                    "payout_approval_above", "earnings_hold_days", "payout_method_hold_hours", "updated_at"]

    def has_add_permission(self, request):
        return not EconomySettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
