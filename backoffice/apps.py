from typing import Any

from allauth.account.apps import AccountConfig
from django.apps import AppConfig, apps
from django.contrib.admin import ModelAdmin
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.apps import DefaultConfig as OTPStaticConfig
from django_otp.plugins.otp_totp.apps import DefaultConfig as OTPTOTPConfig
from djmoney.models.fields import CurrencyField

from backoffice.staff_groups import staff_groups_after_migrate


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = _("Backoffice")
    default = True

    def ready(self) -> None:
        # Keeps the staff groups in step with their permission table after every migrate and after a
        # test-database flush (which drops and re-emits post_migrate). Django sends post_migrate only
        # for apps with models, which backoffice has none of: the accounts app's signal carries it.
        accounts = apps.get_app_config("accounts")
        post_migrate.connect(staff_groups_after_migrate, sender=accounts, dispatch_uid="coinsite_staff_groups")
        currency_columns_name()


def currency_columns_name() -> None:
    """Name each django-money currency column after its amount, "price (currency)", in the active language.

    django-money adds these columns itself and takes no name for them, so the admin's filters and columns read
    "price currency" in English whatever the staff member's language. Set on the field, not in a migration:
    django-money gives no way to pass it.
    """
    for model in apps.get_models():
        for field in model._meta.local_fields:
            if isinstance(field, CurrencyField) and field.price_field is not None and field._verbose_name is None:
                field.verbose_name = format_lazy("{} ({})", field.price_field.verbose_name, _("currency"))


class CoinsiteAdminConfig(admin_apps.AdminConfig):
    """Django admin on CoinsiteAdminSite, so every admin page needs a 2FA-verified session.

    Named in INSTALLED_APPS in place of "django.contrib.admin"; not this module's default config.
    """

    default = False
    default_site = "backoffice.site.CoinsiteAdminSite"


# Third-party apps as the admin names them, in the staff member's language: named in INSTALLED_APPS in place of
# their own configs (Django's way to rename an app). Their own names were English only ("EXCHANGE", "OTP_STATIC")
# or the same as ours ("Accounts" twice).


class ExchangeRatesConfig(AppConfig):
    """djmoney's stored exchange rates; it names neither the app nor its two models."""

    name = "djmoney.contrib.exchange"
    label = "exchange"
    verbose_name = _("Exchange rates")
    default = False

    def ready(self) -> None:
        _name_models(self, Rate=(_("exchange rate"), _("exchange rates")))
        _name_models(self, ExchangeBackend=(_("rate source"), _("rate sources")))


class BackupCodesConfig(OTPStaticConfig):
    verbose_name = _("Backup codes")
    default = False

    def ready(self) -> None:
        _name_models(self, StaticDevice=(_("Backup codes"), _("Backup codes")))  # a person's set of codes
        from django_otp.plugins.otp_static.admin import StaticDeviceAdmin  # noqa: PLC0415 (registers its admin)

        _search_by_email(StaticDeviceAdmin)


class AuthenticatorAppsConfig(OTPTOTPConfig):
    verbose_name = _("Authenticator apps")
    default = False

    def ready(self) -> None:
        _name_models(self, TOTPDevice=(_("Authenticator app"), _("Authenticator apps")))
        from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin  # noqa: PLC0415 (registers its admin)

        _search_by_email(TOTPDeviceAdmin)


class EmailAddressesConfig(AccountConfig):
    verbose_name = _("Email addresses")
    default = False


def _search_by_email(model_admin: type[ModelAdmin]) -> None:
    """django-otp's device lists search the user's username and email, and our username is the email: it searched
    `user__email` twice, under an English help text built at import ("Search by user's email address or email
    address"). One field, and the help text in the staff member's language."""
    model_admin.search_fields = ["user__email"]
    model_admin.search_help_text = _("Search by the user's email address")


def _name_models(config: AppConfig, **names: tuple[Any, Any]) -> None:
    """Give a third-party app's models a singular and plural name: {model name: (singular, plural)}. Set on the
    model's options, not in a migration: only the admin reads them."""
    for model, (singular, plural) in names.items():
        options = config.get_model(model)._meta
        options.verbose_name, options.verbose_name_plural = singular, plural
