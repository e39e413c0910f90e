from typing import Any

from django.core.management.base import BaseCommand

from backoffice.staff_groups import staff_groups_sync


class Command(BaseCommand):
    help = "Create or update the support, finance and catalogue staff groups to hold exactly their permissions."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, count in staff_groups_sync().items():
            self.stdout.write(f"{name}: {count} permissions")
