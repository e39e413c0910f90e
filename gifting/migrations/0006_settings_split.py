"""Gifting's own settings: the large-gift confirmation threshold moves out of wallet.EconomySettings.

The value is copied from the economy row (or the default written when there is none), before
wallet 0007 drops the old column (`run_before`), so nothing staff set is lost.
"""

from django.db import migrations, models


def copy_from_economy(apps, schema_editor):
    economy = apps.get_model("wallet", "EconomySettings").objects.filter(pk=1).first()
    settings_row = {"gift_confirm_above_coins": economy.gift_confirm_above_coins} if economy else {}
    apps.get_model("gifting", "GiftingSettings").objects.update_or_create(pk=1, defaults=settings_row)


def copy_back(apps, schema_editor):
    settings_row = apps.get_model("gifting", "GiftingSettings").objects.filter(pk=1).first()
    if settings_row is not None:
        apps.get_model("wallet", "EconomySettings").objects.filter(pk=1).update(
            gift_confirm_above_coins=settings_row.gift_confirm_above_coins
        )


class Migration(migrations.Migration):

    dependencies = [
        ('gifting', '0005_giftevent_creator_tail_index'),
        ('wallet', '0006_staff_operations'),
    ]
    run_before = [('wallet', '0007_settings_split')]

    operations = [
        migrations.CreateModel(
            name='GiftingSettings',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('gift_confirm_above_coins', models.PositiveIntegerField(default=5000, help_text='Gifts costing more coins than this ask the viewer to confirm first.')),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'verbose_name': 'gifting settings',
                'verbose_name_plural': 'gifting settings',
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='gifting_giftingsettings_singleton'), models.CheckConstraint(condition=models.Q(('gift_confirm_above_coins__gte', 1)), name='gifting_giftingsettings_confirm_positive')],
            },
        ),
        migrations.RunPython(copy_from_economy, copy_back),
    ]
