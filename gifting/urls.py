from django.urls import path

from gifting import views

app_name = "gifting"

urlpatterns = [
    path("", views.index, name="index"),
    path("preferences/", views.preferences, name="preferences"),
    path("creators/<int:creator_id>/", views.creator, name="creator"),
    path("studio/", views.studio, name="studio"),
    path("studio/start/", views.studio_start, name="studio-start"),
    path("studio/profile/", views.studio_profile, name="studio-profile"),
    path("studio/chat/", views.studio_chat_settings, name="studio-chat-settings"),
    path("studio/chat/lift/<int:restriction_id>/", views.studio_chat_lift, name="studio-chat-lift"),
    path("studio/<int:stream_id>/end/", views.studio_end, name="studio-end"),
    path("studio/<int:stream_id>/goal/", views.studio_goal, name="studio-goal"),
    path("studio/overlay/regenerate/", views.studio_overlay_regenerate, name="studio-overlay-regenerate"),
    path("overlay/<str:token>/", views.overlay, name="overlay"),
    path("overlay/<str:token>/feed/", views.overlay_feed, name="overlay-feed"),
    path("<int:stream_id>/", views.stream, name="stream"),
    path("<int:stream_id>/gifts/", views.send, name="send"),
    path("<int:stream_id>/gift/", views.gift_tap, name="gift-tap"),
    path("<int:stream_id>/chat/", views.chat_send, name="chat-send"),
    path("chat/<int:message_id>/moderate/", views.chat_moderate, name="chat-moderate"),
    path("<int:stream_id>/feed/", views.feed, name="feed"),
    path("<int:stream_id>/events/", views.events, name="events"),
    path("<int:stream_id>/poll/", views.poll, name="poll"),
]
