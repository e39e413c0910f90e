"""What each supporter gave a creator per month, for statements (docs/payouts.md), filled from the gift events the
earnings roll-up has already passed: the roll-up adds later ones as it goes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payouts', '0008_method_notice_sent'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='earningsrollupstate',
            name='supporter_months_through',
            field=models.BigIntegerField(db_default=0, default=0, help_text='Gift events up to this id are in the monthly supporter roll-up.'),
        ),
        migrations.CreateModel(
            name='SupporterMonthRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField(help_text='First day of the month.')),
                ('is_anonymous', models.BooleanField()),
                ('gifts', models.BigIntegerField(default=0)),
                ('coins', models.BigIntegerField(default=0)),
                ('diamonds', models.BigIntegerField(default=0)),
                ('creator', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('sender', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('creator', 'month', 'sender', 'is_anonymous'), name='payouts_supportermonth_unique')],
            },
        ),
        # Under the state's row lock, so no roll-up moves it meanwhile.
        migrations.RunSQL(
            """
            WITH state AS (
                SELECT last_event_id FROM payouts_earningsrollupstate WHERE id = 1 FOR UPDATE
            ), folded AS (
                INSERT INTO payouts_supportermonthrollup
                       (creator_id, month, sender_id, is_anonymous, gifts, coins, diamonds)
                SELECT creator_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date, sender_id, is_anonymous,
                       COUNT(*), SUM(coins), SUM(diamonds)
                  FROM gifting_giftevent WHERE id <= (SELECT last_event_id FROM state)
                 GROUP BY 1, 2, 3, 4
            )
            UPDATE payouts_earningsrollupstate SET supporter_months_through = (SELECT last_event_id FROM state)
             WHERE id = 1
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
