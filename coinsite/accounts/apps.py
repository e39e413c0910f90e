from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "coinsite.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from coinsite.accounts.staff_groups import staff_groups_after_migrate

        # Keeps the staff groups in step with their permission table after every migrate and
        # after a test-database flush (which drops and re-emits post_migrate).
        post_migrate.connect(staff_groups_after_migrate, sender=self, dispatch_uid="coinsite_staff_groups")
