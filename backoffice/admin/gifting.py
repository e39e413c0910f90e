from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy, ngettext, ngettext_lazy
from django_countries import countries

from backoffice.actions import service_action
from backoffice.forms import GiftForm, GiftingSettingsForm
from backoffice.mixins import AuditedAdminMixin, ReadOnlyAdminMixin, SingletonAdminMixin, staff_member
from coinsite.accounts.staff_audit import model_snapshot, staff_action_record
from gifting.chat import ChatError, chat_lift
from gifting.models import (
    ChatMessage,
    ChatRestriction,
    CreatorProfile,
    Gift,
    GiftEvent,
    GiftingPreferences,
    GiftingSettings,
    LiveStream,
)
from gifting.services import stream_end


@admin.register(Gift)
class GiftAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = GiftForm
    list_display = ["preview", "name", "coin_cost", "tier", "is_active", "countries_shown", "sort_order"]
    list_display_links = ["preview", "name"]
    list_editable = ["is_active", "sort_order"]
    list_filter = ["is_active", "tier"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="")
    def preview(self, gift: Gift) -> str:
        return format_html('<img src="{}" alt="" width="32" height="32">', gift.artwork_url)

    @admin.display(description=gettext_lazy("countries"))
    def countries_shown(self, gift: Gift) -> str:
        """ "Japan", not '["JP"]'; a gift for every country says so."""
        if not gift.countries:
            return gettext("Everywhere")
        return ", ".join(str(countries.name(code)) for code in gift.countries)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Sent gifts point at their catalogue entry; retire a gift by making it inactive.
        return False


@admin.register(LiveStream)
class LiveStreamAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["title", "creator", "started_at", "ended_at", "goal_coins", "viewer_count"]
    list_filter = [("ended_at", admin.EmptyFieldListFilter)]
    search_fields = ["=id", "title", "creator__email", "creator__display_name"]
    list_select_related = ["creator"]
    date_hierarchy = "started_at"
    readonly_fields = ["creator", "stream_url", "started_at", "ended_at", "goal_coins", "goal_label", "viewer_count"]
    actions = ["end_streams"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    @admin.action(description=gettext_lazy("End the selected live streams now"))
    def end_streams(self, request: HttpRequest, queryset: QuerySet[LiveStream]) -> None:
        ended = 0
        for stream in queryset.filter(ended_at__isnull=True).select_related("creator"):
            with transaction.atomic():
                before = model_snapshot(stream)
                stream_end(stream=stream, creator=stream.creator)
                stream.refresh_from_db()
                staff_action_record(
                    actor=staff_member(request),
                    action="stream.end",
                    target=stream,
                    before=before,
                    after=model_snapshot(stream),
                )
            ended += 1
        self.message_user(
            request,
            ngettext("Ended %(count)s stream.", "Ended %(count)s streams.", ended) % {"count": ended},
            messages.SUCCESS,
        )


@admin.register(GiftEvent)
class GiftEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "sender",
        "creator",
        "gift",
        "quantity",
        "coins",
        "diamonds",
        "is_anonymous",
        "stream",
    ]
    list_filter = ["is_anonymous", "gift"]
    search_fields = ["=id", "=stream__id", "sender__email", "creator__email", "idempotency_key"]
    list_select_related = ["sender", "creator", "gift", "stream"]
    date_hierarchy = "created_at"
    show_full_result_count = False


# Chat is moderated by creators on their pages (gifting.chat); staff read the record here.
@admin.register(ChatMessage)
class ChatMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "stream", "author", "text", "deleted_at", "deleted_by"]
    search_fields = ["=id", "=stream__id", "author__email", "text"]
    list_select_related = ["stream", "author", "deleted_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(ChatRestriction)
class ChatRestrictionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Mutes and bans as creators and staff gave them; staff may lift one early (the row keeps who and when)."""

    list_display = ["id", "created_at", "kind", "viewer", "creator", "stream", "until", "created_by", "lifted_at"]
    list_filter = ["kind", ("lifted_at", admin.EmptyFieldListFilter)]
    search_fields = ["viewer__email", "creator__email"]
    list_select_related = ["viewer", "creator", "stream", "created_by", "lifted_by"]
    actions = ["lift"]

    def has_lift_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("gifting.change_chatrestriction")

    lift = service_action(
        name="lift",
        description=gettext_lazy("Lift the selected mutes and bans now"),
        permissions=("lift",),
        perform=lambda request, restriction: chat_lift(moderator=staff_member(request), restriction_id=restriction.pk),
        errors=(ChatError,),
        done=ngettext_lazy("%(count)s mute or ban lifted.", "%(count)s mutes or bans lifted.", "count"),
    )


@admin.register(GiftingPreferences)
class GiftingPreferencesAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "hide_from_leaderboards", "confirm_above_coins", "updated_at"]
    list_filter = ["hide_from_leaderboards"]
    search_fields = ["user__email"]
    list_select_related = ["user"]


@admin.register(CreatorProfile)
class CreatorProfileAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "initials", "avatar"]
    list_filter = ["avatar"]
    search_fields = ["user__email", "user__display_name"]
    list_select_related = ["user"]
    readonly_fields = ["user"]
    exclude = ["overlay_token"]  # a secret: staff never need to see it

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(GiftingSettings)
class GiftingSettingsAdmin(SingletonAdminMixin, AuditedAdminMixin, admin.ModelAdmin):
    """The one row of staff-set gifting rules."""

    form = GiftingSettingsForm
    list_display = ["__str__", "gift_confirm_above_coins", "updated_at"]
