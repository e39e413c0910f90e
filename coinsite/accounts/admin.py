from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html_join

from coinsite.accounts.admin_mixins import AuditedAdminMixin, ReadOnlyAdminMixin
from coinsite.accounts.models import StaffAction, User

# Only superusers grant staff rights; support may change `is_active` (an account freeze) and nothing else.
SUPPORT_EDITABLE_USER_FIELDS = {"is_active"}


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    ordering = ["email"]
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
        ("Profile", {"fields": ["display_name", "country", "birth_date", "preferred_currency", "is_creator"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "display_name", "password1", "password2"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or request.user.is_superuser:
            return fieldsets
        # Without the right to change it, the password hash is nobody's business.
        return [
            (title, {**options, "fields": [name for name in options["fields"] if name != "password"]})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None or request.user.is_superuser:
            return self.readonly_fields
        every_field = [name for _title, options in self.get_fieldsets(request, obj) for name in options["fields"]]
        return [name for name in every_field if name not in SUPPORT_EDITABLE_USER_FIELDS]

    def has_change_permission(self, request, obj=None):
        # Staff accounts are managed by superusers only: support cannot lock a colleague out.
        if obj is not None and (obj.is_staff or obj.is_superuser) and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditedAdminMixin, BaseGroupAdmin):
    list_display = ["name", "member_count"]

    @admin.display(description="members")
    def member_count(self, group):
        return group.user_set.count()


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The staff audit log: append-only, so read-only here for everyone."""

    list_display = ["created_at", "actor", "action", "target_type", "target_id", "target_repr", "short_reason"]
    list_filter = ["action", "target_type", "created_at"]
    search_fields = ["actor__email", "action", "target_type", "=target_id", "target_repr", "reason"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = ["created_at", "actor", "action", "target_type", "target_id", "target_repr", "reason", "changes"]
    readonly_fields = fields

    @admin.display(description="reason")
    def short_reason(self, action):
        return action.reason[:80]

    @admin.display(description="before → after")
    def changes(self, action):
        before, after = action.before or {}, action.after or {}
        rows = [
            (key, before.get(key, "—"), after.get(key, "—"))
            for key in sorted(before.keys() | after.keys())
            if before.get(key) != after.get(key) or not (before and after)
        ]
        if not rows:
            return "No field changed."
        return format_html_join("", "<div><strong>{}</strong>: {} → {}</div>", rows)


# Registered in their own module; imported here so admin autodiscovery finds them.
from coinsite.accounts import admin_security  # noqa: E402, F401
