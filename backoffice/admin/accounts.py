from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy

from backoffice.actions import reason_action
from backoffice.mixins import AuditedAdminMixin, ReadOnlyAdminMixin, staff_member
from coinsite.accounts import creator_applications
from coinsite.accounts.models import CreatorApplication, EmailInFlight, StaffAction, User
from wallet import staff

STAFF_ACTION_FIELDS = ("created_at", "actor", "action", "target_type", "target_id", "target_repr", "reason", "changes")
# Only superusers grant staff rights; support may change `is_active` (an account freeze) and nothing else.
SUPPORT_EDITABLE_USER_FIELDS = {"is_active"}


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    """Users: support may freeze wallets and accounts (actions that ask for a reason); only superusers
    manage staff accounts and passwords."""

    ordering = ["email"]
    actions = ["freeze_wallet", "unfreeze_wallet", "freeze_account", "unfreeze_account"]
    list_display = [
        "email",
        "display_name",
        "country",
        "preferred_currency",
        "is_creator",
        "is_staff",
        "is_active",
        "date_joined",
    ]
    list_filter = ["is_creator", "is_staff", "is_active", "country", "preferred_currency", "groups"]
    search_fields = ["email", "display_name"]
    date_hierarchy = "date_joined"
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        (
            gettext_lazy("Profile"),
            {"fields": ["display_name", "country", "birth_date", "preferred_currency", "is_creator"]},
        ),
        (
            gettext_lazy("Permissions"),
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        (gettext_lazy("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "display_name", "password1", "password2"]}),
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or request.user.is_superuser:
            return fieldsets
        # Without the right to change it, the password hash is nobody's business.
        return [
            (title, {**options, "fields": [name for name in options["fields"] if name != "password"]})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        if obj is None or request.user.is_superuser:
            return self.readonly_fields
        every_field = [name for _title, options in self.get_fieldsets(request, obj) for name in options["fields"]]
        return [name for name in every_field if name not in SUPPORT_EDITABLE_USER_FIELDS]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Staff accounts are managed by superusers only: support cannot lock a colleague out.
        if isinstance(obj, User) and (obj.is_staff or obj.is_superuser) and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def has_freeze_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("wallet.add_walletfreeze")

    def has_account_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.change_user")

    freeze_wallet = reason_action(
        name="freeze_wallet",
        description=gettext_lazy("Freeze wallets (no recharges, gifts or payouts)"),
        permissions=("freeze",),
        perform=lambda request, user, reason: staff.wallet_freeze(
            user=user, staff=staff_member(request), reason=reason
        ),
        errors=(staff.StaffOperationError,),
        done=ngettext_lazy("%(count)s wallet frozen.", "%(count)s wallets frozen.", "count"),
    )
    unfreeze_wallet = reason_action(
        name="unfreeze_wallet",
        description=gettext_lazy("Lift wallet freezes"),
        permissions=("freeze",),
        perform=lambda request, user, reason: staff.wallet_unfreeze(
            user=user, staff=staff_member(request), reason=reason
        ),
        errors=(staff.StaffOperationError,),
        done=ngettext_lazy("%(count)s wallet unfrozen.", "%(count)s wallets unfrozen.", "count"),
    )
    freeze_account = reason_action(
        name="freeze_account",
        description=gettext_lazy("Freeze accounts (no login; the user is emailed the reason)"),
        permissions=("account",),
        perform=lambda request, user, reason: staff.account_freeze(
            user=user, staff=staff_member(request), reason=reason
        ),
        errors=(staff.StaffOperationError,),
        done=ngettext_lazy("%(count)s account frozen.", "%(count)s accounts frozen.", "count"),
    )
    unfreeze_account = reason_action(
        name="unfreeze_account",
        description=gettext_lazy("Lift account freezes"),
        permissions=("account",),
        perform=lambda request, user, reason: staff.account_unfreeze(
            user=user, staff=staff_member(request), reason=reason
        ),
        errors=(staff.StaffOperationError,),
        done=ngettext_lazy("%(count)s account unfrozen.", "%(count)s accounts unfrozen.", "count"),
    )


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditedAdminMixin, BaseGroupAdmin):
    list_display = ["name", "member_count"]

    @admin.display(description=gettext_lazy("members"))
    def member_count(self, group: Group) -> int:
        return group.user_set.count()


@admin.register(EmailInFlight)
class EmailInFlightAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Emails being sent now; one older than a few minutes was lost mid-send and is queued again by the sweep."""

    list_display = ["key", "task", "claimed_at"]
    search_fields = ["key"]
    date_hierarchy = "claimed_at"


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The staff audit log: append-only, so read-only here for everyone."""

    list_display = ["created_at", "actor", "action", "target_type", "target_id", "target_repr", "short_reason"]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["actor__email", "action", "target_type", "=target_id", "target_repr", "reason"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = readonly_fields = STAFF_ACTION_FIELDS

    @admin.display(description=gettext_lazy("reason"))
    def short_reason(self, action: StaffAction) -> str:
        return action.reason[:80]

    @admin.display(description=gettext_lazy("before → after"))
    def changes(self, action: StaffAction) -> str:
        before, after = action.before or {}, action.after or {}
        rows = [
            (key, before.get(key, "—"), after.get(key, "—"))
            for key in sorted(before.keys() | after.keys())
            if before.get(key) != after.get(key) or not (before and after)
        ]
        if not rows:
            return _("No field changed.")
        return format_html_join("", "<div><strong>{}</strong>: {} → {}</div>", rows)


@admin.register(CreatorApplication)
class CreatorApplicationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Viewers asking to become creators. Approving makes the user a creator; rejecting tells them why.
    The applicant is emailed either way; decisions are in the staff audit log."""

    list_display = ["display_name", "user", "category", "status", "submitted_at", "decided_by", "decided_at"]
    list_filter = ["status", "category"]
    search_fields = ["display_name", "user__email", "user__display_name"]
    list_select_related = ["user", "decided_by"]
    date_hierarchy = "submitted_at"
    actions = ["approve", "reject"]
    fields = readonly_fields = (
        "user",
        "display_name",
        "category",
        "description",
        "link",
        "status",
        "submitted_at",
        "decided_by",
        "decided_at",
        "decision_reason",
        "emailed_at",
    )

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.change_creatorapplication")

    approve = reason_action(
        name="approve",
        description=gettext_lazy("Approve selected applications (the applicants become creators)"),
        permissions=("decide",),
        perform=lambda request, application, reason: creator_applications.creator_application_approve(
            application_id=application.pk, staff=staff_member(request), reason=reason
        ),
        errors=(creator_applications.ApplicationError,),
        done=gettext_lazy("application(s) approved"),
    )
    reject = reason_action(
        name="reject",
        description=gettext_lazy("Reject selected applications (the reason is emailed to the applicant)"),
        permissions=("decide",),
        perform=lambda request, application, reason: creator_applications.creator_application_reject(
            application_id=application.pk, staff=staff_member(request), reason=reason
        ),
        errors=(creator_applications.ApplicationError,),
        done=gettext_lazy("application(s) rejected"),
    )
