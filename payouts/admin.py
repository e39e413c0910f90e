from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy
from djmoney.contrib.exchange.models import ExchangeBackend, Rate

from coinsite.accounts.admin_actions import reason_action, service_action
from coinsite.accounts.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from payouts.chargebacks import topup_reverse
from payouts.models import (
    EarningsRollup,
    EarningsRollupState,
    Payout,
    PayoutMethod,
    SandboxPayoutTransfer,
    StatementDelivery,
    StatementRun,
    SupporterRollup,
)
from payouts.services import PayoutError, payout_approve, payout_reject, payout_retry
from wallet.admin import TopUpAdmin
from wallet.held_topups import topup_refund_held, topup_release
from wallet.models import TopUp
from wallet.money import CURRENCY_EXPONENTS
from wallet.staff import StaffOperationError


@admin.register(StatementRun)
class StatementRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Monthly statement runs are written by the Celery task only; staff follow their progress here."""

    list_display = ["month", "progress", "sent", "started_at", "finished_at"]
    fields = ["month", "progress", "recipients_total", "processed", "sent", "last_user_id", "started_at", "finished_at"]
    readonly_fields = fields

    @admin.display(description="progress")
    def progress(self, run):
        if run.finished_at:
            return f"Finished: {run.processed:,} users looked at"
        percent = 100 * run.processed // run.recipients_total if run.recipients_total else 0
        return f"{run.processed:,} of {run.recipients_total:,} users ({percent}%)"


@admin.register(StatementDelivery)
class StatementDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["month", "user", "kind", "claimed_at", "sent_at"]
    list_filter = ["month", "kind", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "user__display_name"]
    list_select_related = ["user"]
    fields = ["user", "month", "kind", "claimed_at", "sent_at"]
    readonly_fields = fields


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Payouts are money records: never edited here. Staff approve or reject the ones waiting for approval."""

    list_display = ["public_id", "creator", "diamonds", "value", "net", "status", "requested_at", "reviewed_by"]
    list_filter = ["status", "currency", "provider"]
    search_fields = ["public_id", "creator__email", "creator__display_name", "provider_reference"]
    list_select_related = ["creator", "reviewed_by"]
    date_hierarchy = "requested_at"
    actions = ["approve", "reject", "retry"]
    readonly_fields = [field.name for field in Payout._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False

    def has_approve_permission(self, request):
        # The change form stays closed to everyone; the change permission (finance) unlocks reviews.
        return request.user.has_perm("payouts.change_payout")

    approve = service_action(
        name="approve",
        description="Approve selected payouts (waiting for approval)",
        permissions=("approve",),
        perform=lambda request, payout: payout_approve(payout_id=payout.pk, staff=request.user),
        errors=(PayoutError,),
        done="payout(s) approved",
    )
    reject = reason_action(
        name="reject",
        description="Reject selected payouts and return their diamonds",
        permissions=("approve",),
        perform=lambda request, payout, reason: payout_reject(payout_id=payout.pk, staff=request.user, reason=reason),
        errors=(PayoutError,),
        done="payout(s) rejected",
    )
    retry = service_action(
        name="retry",
        description="Retry selected failed payouts (a new request for the same diamonds)",
        permissions=("approve",),
        perform=lambda request, payout: payout_retry(payout_id=payout.pk, staff=request.user),
        errors=(PayoutError,),
        done="payout(s) retried",
    )


@admin.register(PayoutMethod)
class PayoutMethodAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["creator", "kind", "masked", "currency", "created_at", "retired_at"]
    list_filter = ["kind", "currency"]
    search_fields = ["creator__email", "creator__display_name", "paypal_email"]
    list_select_related = ["creator"]
    exclude = ["iban", "paypal_email"]


@admin.register(SandboxPayoutTransfer)
class SandboxPayoutTransferAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The sandbox payout provider's side of each transfer."""

    list_display = ["reference", "amount", "destination", "status", "created_at", "settled_at"]
    list_filter = ["status", "amount_currency"]
    search_fields = ["reference", "=idempotency_key"]
    date_hierarchy = "created_at"


@admin.register(EarningsRollup)
class EarningsRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["day", "creator", "stream", "gifts", "coins", "diamonds"]
    search_fields = ["creator__email", "=stream__id"]
    list_select_related = ["creator", "stream"]
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(SupporterRollup)
class SupporterRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["creator", "sender", "is_anonymous", "gifts", "coins"]
    list_filter = ["is_anonymous"]
    search_fields = ["creator__email", "sender__email"]
    list_select_related = ["creator", "sender"]
    show_full_result_count = False


@admin.register(EarningsRollupState)
class EarningsRollupStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["last_event_id", "updated_at"]


# --- Exchange rates (djmoney.contrib.exchange), set by finance --------------------------------------


class RateForm(forms.ModelForm):
    class Meta:
        model = Rate
        fields = ["backend", "currency", "value"]

    def clean_currency(self):
        currency = (self.cleaned_data.get("currency") or "").strip().upper()
        if currency not in CURRENCY_EXPONENTS:
            raise forms.ValidationError(f"Payouts are made in {', '.join(CURRENCY_EXPONENTS)} only.")
        return currency

    def clean_value(self):
        value = self.cleaned_data.get("value")
        if value is not None and value <= 0:
            raise forms.ValidationError("A rate is more than zero (units of the currency per one base unit).")
        return value


admin.site.unregister(Rate)  # djmoney registers a plain one


@admin.register(Rate)
class RateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = RateForm
    list_display = ["currency", "value", "backend", "last_update"]
    list_filter = ["backend", "currency"]
    search_fields = ["currency"]
    list_select_related = ["backend"]
    ordering = ["backend", "currency"]

    @admin.display(description="rates updated")
    def last_update(self, rate):
        return rate.backend.last_update

    def save_model(self, request, obj, form, change):
        # A staff-set rate is a fresh rate: payout conversions check the backend's last update.
        super().save_model(request, obj, form, change)
        ExchangeBackend.objects.filter(pk=obj.backend_id).update(last_update=timezone.now())


@admin.register(ExchangeBackend)
class ExchangeBackendAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Saving a backend marks its rates as fresh (last_update), which payout conversions check."""

    list_display = ["name", "base_currency", "last_update"]
    readonly_fields = ["last_update"]

    def get_readonly_fields(self, request, obj=None):
        return ["name", "last_update"] if obj else ["last_update"]

    def has_delete_permission(self, request, obj=None):
        return False  # deleting a backend deletes its rates


class TopUpOperationsAdmin(TopUpAdmin):
    """Top-ups with refunds and chargebacks (finance). Registered here, not in wallet, because a reversal
    also claws back creators' held diamonds (payouts.chargebacks), and wallet imports no payouts code."""

    list_display = [*TopUpAdmin.list_display, "payment_country", "reversal"]
    list_filter = [*TopUpAdmin.list_filter, "reversal"]
    actions = ["refund", "chargeback", "release_held", "refund_held"]

    def has_reverse_permission(self, request):
        return request.user.has_perm("wallet.change_topup")

    refund = reason_action(
        name="refund",
        description="Refund selected top-ups (claw back their coins)",
        permissions=("reverse",),
        perform=lambda request, topup, reason: topup_reverse(
            topup_id=topup.pk, staff=request.user, kind="refund", reason=reason
        ),
        errors=(StaffOperationError,),
        done="top-up(s) refunded",
    )
    chargeback = reason_action(
        name="chargeback",
        description="Record chargebacks on selected top-ups (claw back their coins)",
        permissions=("reverse",),
        perform=lambda request, topup, reason: topup_reverse(
            topup_id=topup.pk, staff=request.user, kind="chargeback", reason=reason
        ),
        errors=(StaffOperationError,),
        done="chargeback(s) recorded",
    )
    release_held = reason_action(
        name="release_held",
        description=gettext_lazy("Release selected held top-ups (credit their coins once)"),
        permissions=("reverse",),
        perform=lambda request, topup, reason: topup_release(topup_id=topup.pk, staff=request.user, reason=reason),
        errors=(StaffOperationError,),
        done=gettext_lazy("held top-up(s) released"),
    )
    refund_held = reason_action(
        name="refund_held",
        description=gettext_lazy("Mark selected held top-ups as refunded at the provider (no coins)"),
        permissions=("reverse",),
        perform=lambda request, topup, reason: topup_refund_held(topup_id=topup.pk, staff=request.user, reason=reason),
        errors=(StaffOperationError,),
        done=gettext_lazy("held top-up(s) marked refunded"),
    )


admin.site.unregister(TopUp)
admin.site.register(TopUp, TopUpOperationsAdmin)
