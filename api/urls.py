from django.urls import path

from api import views

app_name = "api"

urlpatterns = [
    path("accounts/api-tokens/", views.token_list, name="tokens"),
    path("accounts/api-tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("live/studio/webhooks/", views.webhook_list, name="webhooks"),
    path("live/studio/webhooks/<int:endpoint_id>/rotate/", views.webhook_rotate, name="webhook-rotate"),
    path("live/studio/webhooks/<int:endpoint_id>/delete/", views.webhook_delete, name="webhook-delete"),
    path("live/studio/webhooks/<int:endpoint_id>/enable/", views.webhook_enable, name="webhook-enable"),
    path("live/studio/webhooks/deliveries/<int:delivery_id>/replay/", views.delivery_replay, name="delivery-replay"),
]
