from django.apps import AppConfig, apps
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

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


class CoinsiteAdminConfig(admin_apps.AdminConfig):
    """Django admin on CoinsiteAdminSite, so every admin page needs a 2FA-verified session.

    Named in INSTALLED_APPS in place of "django.contrib.admin"; not this module's default config.
    """

    default = False
    default_site = "backoffice.site.CoinsiteAdminSite"
