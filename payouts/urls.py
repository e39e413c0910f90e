from django.urls import path

from payouts import statement_views, views

app_name = "payouts"

urlpatterns = [
    path("", views.index, name="index"),
    path("statements/", statement_views.statement_list, name="statements"),
    path("statements/<str:month>/", statement_views.statement_detail, name="statement"),
    path("statements/<str:month>.csv", statement_views.statement_csv, name="statement-csv"),
]
