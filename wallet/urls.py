from django.urls import path

from wallet import views

app_name = "wallet"

urlpatterns = [
    path("", views.index, name="index"),
    path("history.csv", views.history_csv, name="history-csv"),
    path("controls/", views.controls, name="controls"),
    path("recharge/", views.recharge, name="recharge"),
    path("topups/", views.topup_start, name="topup-start"),
    path("topups/all/", views.topups, name="topups"),
    path("topups/<uuid:public_id>/", views.topup_detail, name="topup-detail"),
    path("topups/<uuid:public_id>/return/", views.topup_return, name="topup-return"),
    path("webhooks/<slug:provider_name>/", views.webhook, name="webhook"),
]
