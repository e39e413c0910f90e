from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from coinsite.accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "country", "preferred_currency", "is_creator", "is_staff",
                    "is_active", "date_joined"]
    list_filter = ["is_creator", "is_staff", "is_active", "country", "preferred_currency"]
    search_fields = ["email", "display_name"]
    readonly_fields = ["date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["display_name", "country", "birth_date", "preferred_currency",
                                "is_creator"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups",
                                    "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "display_name", "password1", "password2"]}),
    ]
