from django.urls import path

from gifting import views

app_name = "gifting"

urlpatterns = [
    path("", views.index, name="index"),
]
