from django.contrib import admin, messages
from django.utils.html import format_html

from gifting.models import CreatorProfile, Gift, GiftEvent, GiftingPreferences, LiveStream
from gifting.services import stream_end
from wallet.admin import ReadOnlyAdminMixin  # gift events are money records, read-only like the ledger


@admin.register(Gift)
class GiftAdmin(admin.ModelAdmin):
    list_display = ["preview", "name", "coin_cost", "tier", "is_active", "countries", "sort_order"]
    list_display_links = ["preview", "name"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active", "tier"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="")
    def preview(self, gift):
        return format_html('<img src="{}" alt="" width="32" height="32">', gift.artwork_url)

    def has_delete_permission(self, request, obj=None):
        # Sent gifts point at their catalogue entry; retire a gift by making it inactive.
        return False


@admin.register(LiveStream)
class LiveStreamAdmin(admin.ModelAdmin):
    list_display = ["title", "creator", "started_at", "ended_at", "goal_coins", "viewer_count"]
    list_filter = [("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["title", "creator__email", "creator__display_name"]
    list_select_related = ["creator"]
    readonly_fields = ["creator", "stream_url", "started_at", "ended_at", "goal_coins", "goal_label", "viewer_count"]
    actions = ["end_streams"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="End the selected live streams now")
    def end_streams(self, request, queryset):
        ended = 0
        for stream in queryset.filter(ended_at__isnull=True).select_related("creator"):
            stream_end(stream=stream, creator=stream.creator)
            ended += 1
        self.message_user(request, f"Ended {ended} stream(s).", messages.SUCCESS)


@admin.register(GiftEvent)
class GiftEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "sender", "creator", "gift", "quantity", "coins", "diamonds", "is_anonymous",
                    "stream"]
    list_filter = ["is_anonymous"]
    search_fields = ["=id", "=stream__id", "sender__email", "creator__email", "idempotency_key"]
    list_select_related = ["sender", "creator", "gift", "stream"]
    show_full_result_count = False


@admin.register(GiftingPreferences)
class GiftingPreferencesAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "hide_from_leaderboards", "updated_at"]
    search_fields = ["user__email"]


@admin.register(CreatorProfile)
class CreatorProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "initials", "avatar"]
    search_fields = ["user__email", "user__display_name"]
    readonly_fields = ["user"]
    exclude = ["overlay_token"]  # a secret: staff never need to see it

    def has_add_permission(self, request):
        return False
