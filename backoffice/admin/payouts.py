import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext, ngettext_lazy
from djmoney.contrib.exchange.models import ExchangeBackend, Rate

from backoffice import display
from backoffice.actions import reason_action, service_action
from backoffice.forms import PayoutSettingsForm, RateForm, StatementRunStartForm
from backoffice.mixins import AuditedAdminMixin, ReadOnlyAdminMixin, SingletonAdminMixin, staff_member
from coinsite.lib.l10n import format_count, format_datetime_local, format_month_local
from coinsite.lib.tasks import task_enqueue
from payouts.models import (
    EarningsRollup,
    EarningsRollupState,
    Payout,
    PayoutMethod,
    PayoutSettings,
    SandboxPayoutTransfer,
    StatementDelivery,
    StatementRun,
    SupporterMonthRollup,
    SupporterRollup,
)
from payouts.selectors import payout_hold_end
from payouts.services import PayoutError, payout_approve, payout_hold_lift, payout_reject, payout_retry
from payouts.statements.services import StatementError, statement_run_start
from payouts.tasks import statements_send_month
from wallet.models import Asset

STATEMENTS_NOT_QUEUED = gettext_lazy(
    "The task queue could not be reached just now. The run is saved: the statement sweep starts it within 15 "
    "minutes, or use “Send the rest of the selected runs now” once the queue is back."
)


@admin.register(StatementRun)
class StatementRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Monthly statement runs are written by the Celery task; staff follow their progress here, and finance may
    start a month's run by hand ("Start a statement run") or resume selected ones."""

    list_display = ["month", "progress", "sent_shown", "started_at", "finished_at"]
    actions = ["resume"]
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

    @admin.display(description=gettext_lazy("sent"), ordering="sent")
    def sent_shown(self, run: StatementRun) -> str:
        return format_count(run.sent)

    def has_start_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payouts.change_statementrun")

    def get_urls(self) -> list[URLPattern]:
        start = path("start/", self.admin_site.admin_view(self.start_view), name="payouts_statementrun_start")
        return [start, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**(extra_context or {}), "can_start": self.has_start_permission(request)}
        return super().changelist_view(request, extra_context=context)

    def start_view(self, request: HttpRequest) -> HttpResponse:
        """Start (or resume) one month's statement emails now, instead of waiting for the 1st."""
        if not self.has_start_permission(request):
            raise PermissionDenied
        form = StatementRunStartForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            month = form.cleaned_data["month"]
            try:
                run = statement_run_start(month=month, staff=staff_member(request))
            except StatementError as error:
                form.add_error(None, str(error))
            else:
                queued = task_enqueue(statements_send_month, month.isoformat())
                words = gettext("Statements for %(month)s are being sent (%(total)s users to look at).")
                total = format_count(run.recipients_total)
                self.message_user(request, words % {"month": format_month_local(month), "total": total})
                if not queued:  # the run is recorded: the statement sweep starts it (CELERY_BEAT_SCHEDULE)
                    self.message_user(request, STATEMENTS_NOT_QUEUED, messages.WARNING)
                return redirect("admin:payouts_statementrun_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Start a statement run"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/payouts/statementrun/start.html", context)

    resume = service_action(
        name="resume",
        description=gettext_lazy("Send the rest of the selected runs now"),
        permissions=("start",),
        perform=lambda request, run: (
            statement_run_start(month=run.month, staff=staff_member(request)),
            task_enqueue(statements_send_month, run.month.isoformat()),
        ),
        errors=(StatementError,),
        done=gettext_lazy("statement run(s) queued"),
    )


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

    list_display = ["public_id", "creator", "diamonds_shown", "net", "status", "requested_at", "reviewed_by"]
    list_filter = ["status", "currency", "provider"]
    search_fields = ["public_id", "creator__email", "creator__display_name", "provider_reference"]
    list_select_related = ["creator", "reviewed_by"]
    date_hierarchy = "requested_at"
    actions = ["approve", "reject", "retry"]
    readonly_fields = [
        "diamond_value_shown" if field.name == "diamond_value" else field.name for field in Payout._meta.fields
    ]
    exclude = ["diamond_value"]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("diamonds"), ordering="diamonds")
    def diamonds_shown(self, payout: Payout) -> str:
        return f"{format_count(payout.diamonds)} ({display.money_text(payout.value)})"

    @admin.display(description=gettext_lazy("diamond value"))
    def diamond_value_shown(self, payout: Payout) -> str:
        return display.money_text(payout.diamond_value, precise=True)  # "$0.0050", not the cents "$0.00"

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
    """Payout methods are never edited here. A method change holds the creator's payouts; once support or
    finance have checked the change with the creator, they may lift that hold ("Lift the payout hold")."""

    list_display = ["creator", "kind", "masked", "currency", "created_at", "retired_at", "payout_hold"]
    list_filter = ["kind", "currency"]
    search_fields = ["creator__email", "creator__display_name", "paypal_email"]
    list_select_related = ["creator", "hold_lifted_by"]
    exclude = ["iban", "paypal_email"]
    actions = ["lift_hold"]

    @admin.display(description=gettext_lazy("payout hold"))
    def payout_hold(self, method: PayoutMethod) -> str:
        if method.hold_lifted_at is not None:
            return gettext("Lifted by %(staff)s") % {"staff": method.hold_lifted_by}
        until = payout_hold_end(method.created_at)
        return gettext("Until %(moment)s") % {"moment": format_datetime_local(until)} if until else "—"

    def has_hold_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payouts.change_payoutmethod")

    lift_hold = reason_action(
        name="lift_hold",
        description=gettext_lazy("Lift the payout hold of the selected methods' creators (change checked with them)"),
        permissions=("hold",),
        perform=lambda request, method, reason: payout_hold_lift(
            creator=method.creator, staff=staff_member(request), reason=reason
        ),
        errors=(PayoutError,),
        done=gettext_lazy("payout hold(s) lifted"),
    )


@admin.register(SandboxPayoutTransfer)
class SandboxPayoutTransferAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The sandbox payout provider's side of each transfer."""

    list_display = ["reference", "amount", "destination", "status", "created_at", "settled_at"]
    list_filter = ["status", "amount_currency"]
    search_fields = ["reference", "=idempotency_key"]
    date_hierarchy = "created_at"


@admin.register(EarningsRollup)
class EarningsRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["day", "creator", "stream", "gifts", "coins", "diamonds_shown"]

    @admin.display(description=gettext_lazy("diamonds"), ordering="diamonds")
    def diamonds_shown(self, rollup: EarningsRollup) -> str:
        return display.count_with_value(Asset.DIAMOND, rollup.diamonds)

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


@admin.register(SupporterMonthRollup)
class SupporterMonthRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["month", "creator", "sender", "is_anonymous", "gifts", "coins", "diamonds"]
    list_filter = ["is_anonymous"]
    search_fields = ["creator__email", "sender__email"]
    list_select_related = ["creator", "sender"]
    date_hierarchy = "month"
    show_full_result_count = False


@admin.register(EarningsRollupState)
class EarningsRollupStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["last_event_id", "supporter_months_through", "updated_at"]


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
