"""Admin for the account-security records: sudo re-check throttles and profile country changes."""

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, ngettext_lazy

from backoffice.actions import reason_action
from backoffice.mixins import AuditedAdminMixin, ReadOnlyAdminMixin, staff_member
from coinsite.accounts import country
from coinsite.accounts.models import CountryChange, SudoThrottle


@admin.register(SudoThrottle)
class SudoThrottleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Wrong sudo passwords per user. Deleting a row lifts a user's wait (logged); nothing else is editable."""

    list_display = ["user", "failure_count", "last_failure_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    readonly_fields = ["user", "failure_count", "last_failure_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(CountryChange)
class CountryChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Country changes users asked for. Pending ones apply after the cooling-off, or when staff approve them here."""

    list_display = ["user", "from_country", "to_country", "status", "requested_at", "effective_at", "decided_by"]
    list_filter = ["status", "to_country", "from_country"]
    search_fields = ["user__email", "user__display_name"]
    list_select_related = ["user", "decided_by"]
    date_hierarchy = "requested_at"
    actions = ["approve", "reject"]

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.change_countrychange")

    approve = reason_action(
        name="approve",
        description=gettext_lazy("Approve selected country changes now (skip the cooling-off)"),
        permissions=("decide",),
        perform=lambda request, change, reason: country.country_change_approve(
            change_id=change.pk, staff=staff_member(request), reason=reason
        ),
        errors=(country.CountryChangeError,),
        done=ngettext_lazy("%(count)s country change approved.", "%(count)s country changes approved.", "count"),
    )
    reject = reason_action(
        name="reject",
        description=gettext_lazy("Reject selected country changes (the current country stays)"),
        permissions=("decide",),
        perform=lambda request, change, reason: country.country_change_reject(
            change_id=change.pk, staff=staff_member(request), reason=reason
        ),
        errors=(country.CountryChangeError,),
        done=ngettext_lazy("%(count)s country change rejected.", "%(count)s country changes rejected.", "count"),
    )
