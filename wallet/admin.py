from django.contrib import admin
from django.db.models import F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from wallet.models import LedgerAccount, LedgerAuditRun, LedgerBalanceDelta, LedgerEntry, LedgerTransaction


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
