"""The support, finance and catalogue staff groups used to be filled here.

The groups now belong to the backoffice app (backoffice/staff_groups.py), which fills them after
every migrate (post_migrate), so this migration no longer does anything: on a fresh database the
groups appear at the end of the same `migrate`. It stays in the graph because later migrations
depend on it.
"""

from django.db import migrations


def create_staff_groups(apps, schema_editor):
    """Nothing: see the module docstring."""


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_staff_action"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("exchange", "0001_initial"),
        ("gifting", "0004_giftingpreferences_confirm_above_coins_and_more"),
        ("payouts", "0002_seed_exchange_rates"),
        ("paysandbox", "0001_initial"),
        ("wallet", "0005_economy_settings"),
    ]

    operations = [migrations.RunPython(create_staff_groups, migrations.RunPython.noop)]
