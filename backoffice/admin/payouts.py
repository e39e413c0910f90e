import datetime

from django.contrib import admin
from django.db.models import Model
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy, ngettext, ngettext_lazy
from djmoney.contrib.exchange.models import ExchangeBackend, Rate

from backoffice.actions import reason_action, service_action
from backoffice.forms import PayoutSettingsForm, RateForm
from backoffice.mixins import AuditedAdminMixin, ReadOnlyAdminMixin, SingletonAdminMixin, staff_member
from coinsite.lib.l10n import format_count
from payouts.models import (
    EarningsRollup,
    EarningsRollupState,
    Payout,
    PayoutMethod,
    PayoutSettings,
    SandboxPayoutTransfer,
    StatementDelivery,
    StatementRun,
    SupporterRollup,
)
from payouts.services import PayoutError, payout_approve, payout_reject, payout_retry


@admin.register(StatementRun)
class StatementRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Monthly statement runs are written by the Celery task only; staff follow their progress here."""

    list_display = ["month", "progress", "sent", "started_at", "finished_at"]
    fields = readonly_fields = (
        "month",
        "progress",
        "recipients_total",
        "processed",
        "sent",
        "last_user_id",
        "started_at",
        "finished_at",
    )

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, run: StatementRun) -> str:
        if run.finished_at:
            return ngettext(
                "Finished: %(processed)s user looked at", "Finished: %(processed)s users looked at", run.processed
            ) % {"processed": format_count(run.processed)}
        percent = 100 * run.processed // run.recipients_total if run.recipients_total else 0
        return ngettext(
            "%(processed)s of %(total)s user (%(percent)s%%)",
            "%(processed)s of %(total)s users (%(percent)s%%)",
            run.recipients_total,
        ) % {
            "processed": format_count(run.processed),
            "total": format_count(run.recipients_total),
            "percent": percent,
        }


@admin.register(StatementDelivery)
class StatementDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["month", "user", "kind", "claimed_at", "sent_at"]
    list_filter = ["month", "kind", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "user__display_name"]
    list_select_related = ["user"]
    fields = readonly_fields = ("user", "month", "kind", "claimed_at", "sent_at")


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

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        # The change form stays closed to everyone; the change permission (finance) unlocks reviews.
        return request.user.has_perm("payouts.change_payout")

    approve = service_action(
        name="approve",
        description=gettext_lazy("Approve selected payouts (waiting for approval)"),
        permissions=("approve",),
        perform=lambda request, payout: payout_approve(payout_id=payout.pk, staff=staff_member(request)),
        errors=(PayoutError,),
        done=ngettext_lazy("%(count)s payout approved.", "%(count)s payouts approved.", "count"),
    )
    reject = reason_action(
        name="reject",
        description=gettext_lazy("Reject selected payouts and return their diamonds"),
        permissions=("approve",),
        perform=lambda request, payout, reason: payout_reject(
            payout_id=payout.pk, staff=staff_member(request), reason=reason
        ),
        errors=(PayoutError,),
        done=ngettext_lazy("%(count)s payout rejected.", "%(count)s payouts rejected.", "count"),
    )
    retry = service_action(
        name="retry",
        description=gettext_lazy("Retry selected failed payouts (a new request for the same diamonds)"),
        permissions=("approve",),
        perform=lambda request, payout: payout_retry(payout_id=payout.pk, staff=staff_member(request)),
        errors=(PayoutError,),
        done=ngettext_lazy("%(count)s payout retried.", "%(count)s payouts retried.", "count"),
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


@admin.register(PayoutSettings)
class PayoutSettingsAdmin(SingletonAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    """The one row of staff-set payout rules: minimum, approval threshold, holds, rate age."""

    form = PayoutSettingsForm
    list_display = [
        "__str__",
        "payout_minimum",
        "payout_approval_above",
        "earnings_hold_days",
        "payout_method_hold_hours",
        "exchange_rate_max_age_hours",
        "updated_at",
    ]


# --- Exchange rates (djmoney.contrib.exchange), set by finance --------------------------------------


admin.site.unregister(Rate)  # djmoney registers a plain one


@admin.register(Rate)
class RateAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = RateForm
    list_display = ["currency", "value", "backend", "last_update"]
    list_filter = ["backend", "currency"]
    search_fields = ["currency"]
    list_select_related = ["backend"]
    ordering = ["backend", "currency"]

    @admin.display(description=gettext_lazy("rates updated"))
    def last_update(self, rate: Rate) -> datetime.datetime | None:
        return rate.backend.last_update

    def save_model(self, request: HttpRequest, obj: Rate, form: ModelForm, change: bool) -> None:
        # A staff-set rate is a fresh rate: payout conversions check the backend's last update.
        super().save_model(request, obj, form, change)
        ExchangeBackend.objects.filter(pk=obj.backend_id).update(last_update=timezone.now())


@admin.register(ExchangeBackend)
class ExchangeBackendAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Saving a backend marks its rates as fresh (last_update), which payout conversions check."""

    list_display = ["name", "base_currency", "last_update"]
    readonly_fields = ["last_update"]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        return ["name", "last_update"] if obj else ["last_update"]

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # deleting a backend deletes its rates
