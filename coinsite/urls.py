from django.contrib import admin
from django.urls import include, path

from coinsite import views
from coinsite.accounts.urls import sudo_patterns

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("coinsite.accounts.urls")),
    path("accounts/", include(sudo_patterns)),
    path("accounts/", include("allauth.urls")),
    path("wallet/", include("wallet.urls")),
    path("live/", include("gifting.urls")),
    path("creator/", include("payouts.urls")),
    path("sandbox-pay/", include("wallet.sandbox.urls")),
]

handler400 = "coinsite.views.error_400"
handler403 = "coinsite.views.error_403"
handler404 = "coinsite.views.error_404"
handler500 = "coinsite.views.error_500"
