"""The support, finance and catalogue staff groups (see coinsite/accounts/staff_groups.py).

Permissions are normally created after migrate; they are created here first so the groups can be
filled on a fresh database. post_migrate re-syncs the groups after every migrate.
"""

from django.db import migrations


def create_staff_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    from coinsite.accounts.staff_groups import staff_groups_sync

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    staff_groups_sync(apps=apps, using=schema_editor.connection.alias, strict=False)


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
