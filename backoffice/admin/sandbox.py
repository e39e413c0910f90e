from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, ngettext

from wallet.sandbox.models import SandboxSession
from wallet.sandbox.services import sandbox_webhook_resend


@admin.register(SandboxSession)
class SandboxSessionAdmin(admin.ModelAdmin):
    """The test provider's dashboard: read-only, plus "send the webhook again" for testing how
    Coinsite handles a replayed event."""

    list_display = ["public_id", "reference", "amount", "state", "paid_with", "webhook_state", "created"]
    list_filter = ["state", "webhook_state", "payment_method"]
    search_fields = ["public_id", "reference", "customer_email", "event_id"]
    date_hierarchy = "created"
    actions = ["resend_webhook"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Send the webhook again (finished sessions)"), permissions=["view"])
    def resend_webhook(self, request: HttpRequest, queryset: QuerySet[SandboxSession]) -> None:
        sent = sum(sandbox_webhook_resend(session_id=session.pk) for session in queryset.only("pk"))
        self.message_user(
            request,
            ngettext("Queued %(count)s webhook again.", "Queued %(count)s webhooks again.", sent) % {"count": sent},
            messages.SUCCESS,
        )
