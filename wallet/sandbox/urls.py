from django.urls import path

from wallet.sandbox import views

app_name = "paysandbox"

urlpatterns = [
    path("checkout/<str:public_id>/", views.checkout, name="checkout"),
]
