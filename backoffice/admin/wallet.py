from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy, ngettext_lazy
from django.utils.translation import gettext as _

from backoffice import display
from backoffice.actions import reason_action, service_action
from backoffice.forms import AdjustmentRequestForm, CoinPackagePriceForm, CoinRateForm, EconomySettingsForm
from backoffice.mixins import AuditedAdminMixin, ReadOnlyAdminMixin, SingletonAdminMixin, staff_member
from backoffice.services import topup_reverse
from coinsite.lib.l10n import format_count
from wallet import ledger, staff
from wallet.forms import PAYMENT_METHOD_LABELS
from wallet.held_topups import topup_refund_held, topup_release
from wallet.models import (
    Adjustment,
    Asset,
    CoinPackage,
    CoinPackagePrice,
    CoinRate,
    CoinReceivable,
    Country,
    EconomySettings,
    LedgerAccount,
    LedgerAuditRun,
    LedgerDayTotal,
    LedgerEntry,
    LedgerRollupMark,
    LedgerTransaction,
    PaymentWebhookEvent,
    SpendingControls,
    TopUp,
    WalletFreeze,
)
from wallet.selectors import economy


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "kind", "code", "user", "asset", "current_balance", "append_only_balance", "created_at"]
    list_filter = ["kind", "asset", "append_only_balance"]
    search_fields = ["code", "user__email", "user__display_name"]
    list_select_related = ["user"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return ledger.accounts_with_balance(super().get_queryset(request))

    @admin.display(description=gettext_lazy("balance"), ordering="current_balance")
    def current_balance(self, account: LedgerAccount) -> str:
        balance = account.current_balance  # type: ignore[attr-defined]  # annotated by get_queryset
        return display.count_with_value(account.asset, balance)


class LedgerEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LedgerEntry
    fields = readonly_fields = ("id", "account", "asset", "amount")
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
    list_display = ["id", "transaction", "account", "asset", "amount_shown", "created_at"]
    list_filter = ["asset", "account__kind"]
    search_fields = ["=transaction__id", "=account__id", "transaction__idempotency_key", "account__user__email"]
    list_select_related = ["transaction", "account"]
    show_full_result_count = False

    @admin.display(description=gettext_lazy("amount"), ordering="amount")
    def amount_shown(self, entry: LedgerEntry) -> str:
        return ("+" if entry.amount > 0 else "") + display.count_with_value(entry.asset, entry.amount)


@admin.register(LedgerRollupMark)
class LedgerRollupMarkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """How far the periodic roll-up has folded append-only balances: evidence, never edited."""

    list_display = ["folded_through", "day_totals_through", "updated_at"]


@admin.register(LedgerDayTotal)
class LedgerDayTotalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """User accounts' entries per UTC day and transaction kind, summed by the roll-up for statements: derived from
    the entries, checked by the ledger audit, never edited."""

    list_display = ["day", "account", "kind", "amount"]
    list_filter = ["kind"]
    search_fields = ["=account__id", "account__user__email"]
    list_select_related = ["account"]
    date_hierarchy = "day"
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
    search_fields = ["code"]

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Users and top-ups name their country; switch recharge or gifting off instead.
        return request.user.is_superuser and super().has_delete_permission(request, obj)


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

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("prices")

    @admin.display(description=gettext_lazy("prices"))
    def prices_list(self, package: CoinPackage) -> str:
        return ", ".join(display.money_text(price.price) for price in package.prices.all())


@admin.register(CoinPackagePrice)
class CoinPackagePriceAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = CoinPackagePriceForm
    list_display = ["package", "price", "price_currency"]
    list_filter = ["price_currency", "package__is_active"]
    search_fields = ["=package__coins"]
    list_select_related = ["package"]


@admin.register(CoinRate)
class CoinRateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = CoinRateForm
    list_display = ["per_coin_currency", "per_coin_shown", "min_coins", "max_coins"]
    list_filter = ["per_coin_currency"]

    @admin.display(description=gettext_lazy("per coin"), ordering="per_coin")
    def per_coin_shown(self, rate: CoinRate) -> str:
        return display.money_text(rate.per_coin, precise=True)  # "$0.0141", not the cents "$0.01"


# --- Money records (read-only) -------------------------------------------------------------------


class PaymentMethodFilter(admin.SimpleListFilter):
    """Payment methods by the names viewers see ("Credit or debit card"), not their codes ("card")."""

    title = gettext_lazy("payment method")
    parameter_name = "payment_method"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, Any]]:
        return list(PAYMENT_METHOD_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(payment_method=self.value()) if self.value() else queryset


@admin.register(TopUp)
class TopUpAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Top-ups are money records; finance refunds them or records chargebacks (actions that ask for a
    reason and also claw back creators' held diamonds: `backoffice.services.topup_reverse`)."""

    actions = ["refund", "chargeback", "release_held", "refund_held"]
    list_display = [
        "public_id_shown",
        "user",
        "total_coins_shown",
        "amount",
        "payment_method_shown",
        "status_shown",
        "created_at",
    ]  # the provider, completion time and country are on each top-up's page and in the filters
    list_filter = ["status", "provider", PaymentMethodFilter, "amount_currency", "country", "reversal"]
    search_fields = ["public_id", "user__email", "provider_session_id"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description=TopUp._meta.get_field("public_id").verbose_name, ordering="public_id")
    def public_id_shown(self, topup: TopUp) -> str:
        # The whole id (the viewer's receipt number) took four lines of the list's widest column: its first
        # characters, with the whole id as the title. The search box finds a top-up by those characters too.
        public_id = str(topup.public_id)
        return format_html('<span title="{}">{}…</span>', public_id, public_id[:8])

    @admin.display(description=TopUp._meta.get_field("status").verbose_name, ordering="status")
    def status_shown(self, topup: TopUp) -> str:
        """The status, and a refund or chargeback after it ("Paid · Charged back"): one column, not two."""
        status = topup.get_status_display()
        return f"{status} · {topup.get_reversal_display()}" if topup.reversal else str(status)

    @admin.display(description=gettext_lazy("payment method"), ordering="payment_method")
    def payment_method_shown(self, topup: TopUp) -> str:
        return str(PAYMENT_METHOD_LABELS.get(topup.payment_method, topup.payment_method))

    @admin.display(description=gettext_lazy("coins"))
    def total_coins_shown(self, topup: TopUp) -> str:
        return format_count(topup.total_coins)

    def has_reverse_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("wallet.change_topup")

    refund = reason_action(
        name="refund",
        description=gettext_lazy("Refund selected top-ups (claw back their coins)"),
        permissions=("reverse",),
        perform=lambda request, topup, reason: topup_reverse(
            topup_id=topup.pk, staff=staff_member(request), kind="refund", reason=reason
        ),
        errors=(staff.StaffOperationError,),
        done=ngettext_lazy("%(count)s top-up refunded.", "%(count)s top-ups refunded.", "count"),
    )
    chargeback = reason_action(
        name="chargeback",
        description=gettext_lazy("Record chargebacks on selected top-ups (claw back their coins)"),
        permissions=("reverse",),
        perform=lambda request, topup, reason: topup_reverse(
            topup_id=topup.pk, staff=staff_member(request), kind="chargeback", reason=reason
        ),
        errors=(staff.StaffOperationError,),
        done=ngettext_lazy("%(count)s chargeback recorded.", "%(count)s chargebacks recorded.", "count"),
    )
    release_held = reason_action(
        name="release_held",
        description=gettext_lazy("Release selected held top-ups (credit their coins once)"),
        permissions=("reverse",),
        perform=lambda request, topup, reason: topup_release(
            topup_id=topup.pk, staff=staff_member(request), reason=reason
        ),
        errors=(staff.StaffOperationError,),
        done=ngettext_lazy("%(count)s held top-up released.", "%(count)s held top-ups released.", "count"),
    )
    refund_held = reason_action(
        name="refund_held",
        description=gettext_lazy("Mark selected held top-ups as refunded at the provider (no coins)"),
        permissions=("reverse",),
        perform=lambda request, topup, reason: topup_refund_held(
            topup_id=topup.pk, staff=staff_member(request), reason=reason
        ),
        errors=(staff.StaffOperationError,),
        done=ngettext_lazy(
            "%(count)s held top-up marked refunded.", "%(count)s held top-ups marked refunded.", "count"
        ),
    )


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


@admin.register(EconomySettings)
class EconomySettingsAdmin(SingletonAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    """The one row of staff-set economics (diamond value, correction approvals)."""

    form = EconomySettingsForm
    list_display = ["__str__", "diamond_value_shown", "adjustment_approval_above_shown", "updated_at"]

    @admin.display(description=gettext_lazy("diamond value"))
    def diamond_value_shown(self, settings_row: EconomySettings) -> str:
        # A diamond is worth a fraction of a cent ($0.005): shown to four decimals, never as "$0.00".
        return display.money_text(settings_row.diamond_value, precise=True)

    @admin.display(description=gettext_lazy("corrections need a second approval above"))
    def adjustment_approval_above_shown(self, settings_row: EconomySettings) -> str:
        return gettext("%(count)s coins or diamonds") % {"count": format_count(settings_row.adjustment_approval_above)}


# --- Staff operations (posted by wallet.staff services; read-only here) ------------------------------


@admin.register(WalletFreeze)
class WalletFreezeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "reason", "frozen_by", "frozen_at"]
    search_fields = ["user__email", "reason"]
    list_select_related = ["user", "frozen_by"]
    date_hierarchy = "frozen_at"


@admin.register(CoinReceivable)
class CoinReceivableAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "topup", "coins_shown", "settled_coins_shown", "created_at", "settled_at"]

    @admin.display(description=gettext_lazy("coins owed"), ordering="coins")
    def coins_shown(self, receivable: CoinReceivable) -> str:
        return display.count_with_value(Asset.COIN, receivable.coins)

    @admin.display(description=gettext_lazy("settled"), ordering="settled_coins")
    def settled_coins_shown(self, receivable: CoinReceivable) -> str:
        return display.count_with_value(Asset.COIN, receivable.settled_coins)

    list_filter = [("settled_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "topup__public_id"]
    list_select_related = ["user", "topup"]
    date_hierarchy = "created_at"


@admin.register(Adjustment)
class AdjustmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Corrections are requested here (finance) and posted by `wallet.staff`, never edited: large ones need
    a second staff member's approval, never the requester's."""

    list_display = ["id", "user", "asset", "amount_shown", "status", "requested_by", "requested_at", "reviewed_by"]
    list_filter = ["status", "asset"]
    search_fields = ["=id", "user__email", "requested_by__email", "reason"]
    list_select_related = ["user", "requested_by", "reviewed_by"]
    date_hierarchy = "requested_at"
    actions = ["approve", "reject"]

    @admin.display(description=gettext_lazy("amount"), ordering="amount")
    def amount_shown(self, adjustment: Adjustment) -> str:
        sign = "+" if adjustment.amount > 0 else ""
        return sign + display.count_with_value(adjustment.asset, adjustment.amount)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.has_perm("wallet.add_adjustment")

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("wallet.change_adjustment")

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The add page asks for the correction and posts it through the service (or leaves it pending)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AdjustmentRequestForm(request.POST or None, admin_site=self.admin_site)
        if request.method == "POST" and form.is_valid():
            try:
                adjustment = staff.adjustment_request(staff=staff_member(request), **form.cleaned_data)
            except staff.StaffOperationError as error:
                form.add_error(None, str(error))
            else:
                user = form.cleaned_data["user"]
                self.message_user(request, display.adjustment_message(adjustment, user), messages.SUCCESS)
                return redirect("admin:wallet_adjustment_changelist")
        return TemplateResponse(
            request,
            "admin/wallet/adjustment_request.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Correct a balance"),
                "form": form,
                "media": self.media + form.media,
                "opts": self.model._meta,
                "threshold": economy().adjustment_approval_above,
            },
            status=400 if form.errors else 200,
        )

    approve = service_action(
        name="approve",
        description=gettext_lazy("Approve selected adjustments (second staff member)"),
        permissions=("review",),
        perform=lambda request, adjustment: staff.adjustment_approve(
            adjustment_id=adjustment.pk, staff=staff_member(request)
        ),
        errors=(staff.StaffOperationError,),
        done=ngettext_lazy("%(count)s adjustment posted.", "%(count)s adjustments posted.", "count"),
    )

    reject = reason_action(
        name="reject",
        description=gettext_lazy("Reject selected adjustments"),
        permissions=("review",),
        perform=lambda request, adjustment, reason: staff.adjustment_reject(
            adjustment_id=adjustment.pk, staff=staff_member(request), reason=reason
        ),
        errors=(staff.StaffOperationError,),
        done=ngettext_lazy("%(count)s adjustment rejected.", "%(count)s adjustments rejected.", "count"),
    )
