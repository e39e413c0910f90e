from django.contrib import admin
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.http import last_modified
from django.views.i18n import JavaScriptCatalog

from api.v1 import api as api_v1
from coinsite import views
from coinsite.accounts.urls import sudo_patterns

# The JavaScript catalogue changes only with a deploy: browsers may revalidate it rather than fetch it again
# (base.html puts the language in its address, so a cached catalogue never answers for another language).
_CATALOGUE_BUILT_AT = timezone.now()

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path(
        "jsi18n/",
        last_modified(lambda request: _CATALOGUE_BUILT_AT)(JavaScriptCatalog.as_view()),
        name="javascript-catalog",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("coinsite.accounts.urls")),
    path("accounts/", include(sudo_patterns)),
    path("accounts/", include("allauth.urls")),
    path("wallet/", include("wallet.urls")),
    path("live/", include("gifting.urls")),
    path("creator/", include("payouts.urls")),
    path("sandbox-pay/", include("wallet.sandbox.urls")),
    path("api/v1/", api_v1.urls),
    path("", include("api.urls")),
]

handler400 = "coinsite.views.error_400"
handler403 = "coinsite.views.error_403"
handler404 = "coinsite.views.error_404"
handler500 = "coinsite.views.error_500"
