from django.contrib import admin

from payouts.models import StatementDelivery, StatementRun
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
