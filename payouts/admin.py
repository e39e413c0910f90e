from django.contrib import admin, messages

from payouts.models import Payout, PayoutMethod, StatementDelivery, StatementRun
from payouts.services import PayoutError, payout_approve, payout_reject
from wallet.admin import ReadOnlyAdminMixin


@admin.register(StatementRun)
class StatementRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Monthly statement runs are written by the Celery task only; staff follow their progress here."""

    list_display = ["month", "progress", "sent", "started_at", "finished_at"]
    fields = ["month", "progress", "recipients_total", "processed", "sent", "last_user_id", "started_at",
              "finished_at"]
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
    actions = ["approve", "reject"]
    readonly_fields = [field.name for field in Payout._meta.fields]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Approve selected payouts (waiting for approval)")
    def approve(self, request, queryset):
        self._review(request, queryset, lambda payout: payout_approve(payout_id=payout.pk, staff=request.user),
                     "approved")

    @admin.action(description="Reject selected payouts and return their diamonds")
    def reject(self, request, queryset):
        self._review(request, queryset, lambda payout: payout_reject(
            payout_id=payout.pk, staff=request.user,
            reason="Our team could not approve this payout. Contact support for details."), "rejected")

    def _review(self, request, queryset, review, done: str) -> None:
        count = 0
        for payout in queryset.order_by("pk"):
            try:
                review(payout)
                count += 1
            except PayoutError as error:
                self.message_user(request, f"Payout {payout.public_id}: {error}", messages.ERROR)
        if count:
            self.message_user(request, f"{count} payout(s) {done}.", messages.SUCCESS)


@admin.register(PayoutMethod)
class PayoutMethodAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["creator", "kind", "masked", "currency", "created_at", "retired_at"]
    list_filter = ["kind", "currency"]
    search_fields = ["creator__email", "creator__display_name", "paypal_email"]
    list_select_related = ["creator"]
    exclude = ["iban", "paypal_email"]
