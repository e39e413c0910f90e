"""Day totals of user accounts' ledger entries, for monthly statements (docs/ledger.md), filled from the entries
the roll-up has already passed: the roll-up adds later ones as it goes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0018_freeze_notice'),
    ]

    operations = [
        migrations.AddField(
            model_name='ledgerrollupmark',
            name='day_totals_through',
            field=models.BigIntegerField(db_default=0, default=0, help_text="User accounts' entries up to this id are in their day totals, later ones are not."),
        ),
        migrations.CreateModel(
            name='LedgerDayTotal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField()),
                ('kind', models.CharField(max_length=64)),
                ('amount', models.BigIntegerField()),
                ('account', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='wallet.ledgeraccount')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('account', 'day', 'kind'), name='wallet_ledgerdaytotal_unique')],
            },
        ),
        # Under the mark's row lock, so no roll-up moves it meanwhile; the entries up to it are final (its fence).
        migrations.RunSQL(
            """
            WITH mark AS (
                SELECT folded_through FROM wallet_ledgerrollupmark WHERE id = 1 FOR UPDATE
            ), folded AS (
                INSERT INTO wallet_ledgerdaytotal (account_id, day, kind, amount)
                SELECT e.account_id, (e.created_at AT TIME ZONE 'UTC')::date, t.kind, SUM(e.amount)
                  FROM wallet_ledgerentry e
                  JOIN wallet_ledgeraccount a ON a.id = e.account_id AND a.kind = 'user'
                  JOIN wallet_ledgertransaction t ON t.id = e.transaction_id
                 WHERE e.id <= (SELECT folded_through FROM mark)
                 GROUP BY 1, 2, 3
            )
            UPDATE wallet_ledgerrollupmark SET day_totals_through = (SELECT folded_through FROM mark) WHERE id = 1
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
