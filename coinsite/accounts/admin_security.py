"""Admin for the account-security records: sudo re-check throttles (and regional country changes)."""

from django.contrib import admin

from coinsite.accounts.admin_mixins import AuditedAdminMixin
from coinsite.accounts.models import SudoThrottle


@admin.register(SudoThrottle)
class SudoThrottleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Wrong sudo passwords per user. Deleting a row lifts a user's wait (logged); nothing else is editable."""

    list_display = ["user", "failure_count", "last_failure_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    readonly_fields = ["user", "failure_count", "last_failure_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
