from allauth.account import views as allauth_views
from django.urls import path

from coinsite.accounts import views
from coinsite.lib.access import sudo_required

app_name = "accounts"

urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("language/", views.language_set, name="language"),
    path("2fa/", views.security, name="security"),
    path("2fa/setup/", views.enroll, name="enroll"),
    path("2fa/setup/email/", views.enroll_email, name="enroll-email"),
    path("2fa/backup-codes/", views.backup_codes_regenerate, name="backup-codes"),
    path("2fa/remove/", views.device_remove, name="device-remove"),
    path("2fa/login/", views.two_factor_login, name="two-factor-login"),
    path("confirm/", views.confirm, name="confirm"),
    path("confirm/continue/", views.resume_post, name="resume"),
]

# Sudo mode in front of allauth's own pages: these URLs shadow allauth's (included after us)
# under the same names, so allauth's templates and redirects keep working.
sudo_patterns = [
    path("email/", sudo_required(allauth_views.email), name="account_email"),
    path("password/change/", sudo_required(allauth_views.password_change), name="account_change_password"),
]
