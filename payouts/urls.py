from django.urls import path

from payouts import views
from payouts.statements import views as statement_views

app_name = "payouts"

urlpatterns = [
    path("", views.index, name="index"),
    path("apply/", views.apply, name="apply"),
    path("methods/add/", views.method_add, name="method-add"),
    path("methods/<int:replaces>/change/", views.method_add, name="method-change"),
    path("methods/<int:method_id>/remove/", views.method_retire, name="method-remove"),
    path("payouts/request/", views.payout_request, name="request"),
    path("payouts/<uuid:public_id>/", views.payout_detail, name="payout"),
    path("statements/", statement_views.statement_list, name="statements"),
    path("statements/<str:month>/", statement_views.statement_detail, name="statement"),
    path("statements/<str:month>.csv", statement_views.statement_csv_download, name="statement-csv"),
]
