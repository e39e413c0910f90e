"""Gifting and payout settings leave wallet.EconomySettings (gifting 0006 and payouts 0003 copy the
values first: they `run_before` this migration), and the economy row is written once here, so
reading it never has to (`wallet.selectors.economy()` writes nothing).
"""

from django.db import migrations


def create_economy_row(apps, schema_editor):
    apps.get_model("wallet", "EconomySettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0006_staff_operations'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='economysettings',
            name='wallet_economysettings_confirm_positive',
        ),
        migrations.RemoveConstraint(
            model_name='economysettings',
            name='wallet_economysettings_minimum_positive',
        ),
        migrations.RemoveField(
            model_name='economysettings',
            name='earnings_hold_days',
        ),
        migrations.RemoveField(
            model_name='economysettings',
            name='exchange_rate_max_age_hours',
        ),
        migrations.RemoveField(
            model_name='economysettings',
            name='gift_confirm_above_coins',
        ),
        migrations.RemoveField(
            model_name='economysettings',
            name='payout_approval_above',
        ),
        migrations.RemoveField(
            model_name='economysettings',
            name='payout_approval_above_currency',
        ),
        migrations.RemoveField(
            model_name='economysettings',
            name='payout_method_hold_hours',
        ),
        migrations.RemoveField(
            model_name='economysettings',
            name='payout_minimum',
        ),
        migrations.RemoveField(
            model_name='economysettings',
            name='payout_minimum_currency',
        ),
        migrations.RunPython(create_economy_row, migrations.RunPython.noop),
    ]
