"""Leaner ledger writes for the gift hot path (issue #13).

- Entries lose their foreign-key constraints: each FK check took a KEY SHARE lock on the system
  accounts and the creator's wallet, rows every gift shares. The entry insert trigger now refuses
  entries whose transaction or account does not exist (one set-wise check per statement), an account
  with entries cannot be deleted, and `ledger_audit` checks both again.
- No balance-delta row per credit: an append-only account's pending credits are its entries after its
  `rolled_up_through` mark (index `wallet_entry_account_pending`), folded in by the fenced roll-up.
  The deltas pending at migration time are folded into the balances first.
- The idempotency key is unique through a constraint, without the `_like` pattern index nothing uses.
- `wallet_ledger_spend`: the hot posting (claim the key, debit the payer only if the funds are there,
  insert the entries) as one SQL function, so a gift's posting is one round
  trip whose statements PL/pgSQL plans once per connection.
"""

import django.db.models.deletion
from django.db import migrations, models


CHECK_INSERTED_SQL = """
CREATE OR REPLACE FUNCTION wallet_ledgerentry_check_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.id, n.transaction_id INTO bad
      FROM new_entries n
     WHERE NOT EXISTS (SELECT 1 FROM wallet_ledgertransaction t WHERE t.id = n.transaction_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger entry % points at missing transaction %', bad.id, bad.transaction_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT n.id, n.account_id, n.asset AS entry_asset, a.asset AS account_asset INTO bad
      FROM new_entries n LEFT JOIN wallet_ledgeraccount a ON a.id = n.account_id
     WHERE a.asset IS DISTINCT FROM n.asset
     LIMIT 1;
    IF FOUND AND bad.account_asset IS NULL THEN
        RAISE EXCEPTION 'ledger entry % points at missing account %', bad.id, bad.account_id
            USING ERRCODE = 'foreign_key_violation';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'ledger entry % is in % but account % holds %',
            bad.id, bad.entry_asset, bad.account_id, bad.account_asset USING ERRCODE = 'check_violation';
    END IF;
    SELECT e.transaction_id, e.asset, SUM(e.amount) AS total INTO bad
      FROM wallet_ledgerentry e
     WHERE e.transaction_id IN (SELECT DISTINCT transaction_id FROM new_entries)
     GROUP BY e.transaction_id, e.asset
    HAVING SUM(e.amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its % entries sum to %',
            bad.transaction_id, bad.asset, bad.total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION wallet_ledgeraccount_forbid_delete_used() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM wallet_ledgerentry WHERE account_id = OLD.id) THEN
        RAISE EXCEPTION 'ledger account % has entries and cannot be deleted', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER wallet_ledgeraccount_keep_used
    BEFORE DELETE ON wallet_ledgeraccount
    FOR EACH ROW EXECUTE FUNCTION wallet_ledgeraccount_forbid_delete_used();
"""

CHECK_INSERTED_REVERSE_SQL = """
DROP TRIGGER wallet_ledgeraccount_keep_used ON wallet_ledgeraccount;
DROP FUNCTION wallet_ledgeraccount_forbid_delete_used();
"""

# The caller (wallet.ledger.ledger_spend) has validated the lines: they balance per asset, the payer
# is a user wallet paying `p_cost`, every other account is append-only (its credit is the entry itself,
# folded into its balance by the roll-up). Returns the new transaction's
# id and whether the payer was debited; on a replayed key the id is NULL and nothing is written; on
# insufficient funds `available` is the payer's balance (read under its row lock), the claimed key row
# is left without entries, and the caller must roll back (the deferred has-entries trigger would refuse
# the commit anyway).
SPEND_FUNCTION_SQL = """
CREATE FUNCTION wallet_ledger_spend(
    p_key text, p_kind text, p_memo text, p_metadata jsonb, p_created_at timestamptz,
    p_payer bigint, p_cost bigint,
    p_accounts bigint[], p_assets text[], p_amounts bigint[],
    OUT transaction_id bigint, OUT debited boolean, OUT available bigint
) LANGUAGE plpgsql AS $$
BEGIN
    debited := false;
    INSERT INTO wallet_ledgertransaction (idempotency_key, kind, memo, metadata, created_at)
    VALUES (p_key, p_kind, p_memo, p_metadata, p_created_at)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO transaction_id;
    IF transaction_id IS NULL THEN
        RETURN;
    END IF;
    UPDATE wallet_ledgeraccount SET balance = balance - p_cost WHERE id = p_payer AND balance >= p_cost;
    IF NOT FOUND THEN
        SELECT a.balance INTO available FROM wallet_ledgeraccount a WHERE a.id = p_payer FOR NO KEY UPDATE;
        RETURN;
    END IF;
    debited := true;
    INSERT INTO wallet_ledgerentry (transaction_id, account_id, asset, amount, created_at)
    SELECT transaction_id, line.account, line.asset, line.amount, p_created_at
      FROM unnest(p_accounts, p_assets, p_amounts) AS line(account, asset, amount);
END
$$;
"""

SPEND_FUNCTION_REVERSE_SQL = """
DROP FUNCTION wallet_ledger_spend(
    text, text, text, jsonb, timestamptz, bigint, bigint, bigint[], text[], bigint[]
);
"""


# The pending deltas become part of the cached balances, and every append-only account is marked as
# rolled up through the last entry: from here on its pending credits are its entries after that mark.
# The locks keep postings out meanwhile (SHARE waits for in-flight inserts), so the mark is exact.
FOLD_DELTAS_SQL = """
LOCK TABLE wallet_ledgerentry, wallet_ledgerbalancedelta IN SHARE MODE;
UPDATE wallet_ledgeraccount a SET balance = a.balance + pending.total
  FROM (SELECT account_id, SUM(amount) AS total FROM wallet_ledgerbalancedelta GROUP BY account_id) pending
 WHERE pending.account_id = a.id;
UPDATE wallet_ledgeraccount SET rolled_up_through = (SELECT COALESCE(MAX(id), 0) FROM wallet_ledgerentry)
 WHERE append_only_balance;
INSERT INTO wallet_ledgerrollupmark (id, folded_through, updated_at)
VALUES (1, (SELECT COALESCE(MAX(id), 0) FROM wallet_ledgerentry), now());
"""


class Migration(migrations.Migration):

    dependencies = [
        ('wallet', '0011_regional_currencies'),
    ]

    operations = [
        migrations.CreateModel(
            name='LedgerRollupMark',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('folded_through', models.BigIntegerField(default=0)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.AddField(
            model_name='ledgeraccount',
            name='rolled_up_through',
            field=models.BigIntegerField(default=0, help_text='Append-only accounts: entries up to this id are in the balance, later ones pending.'),
        ),
        migrations.AlterField(
            model_name='ledgeraccount',
            name='append_only_balance',
            field=models.BooleanField(default=False, help_text='Credits only insert entries; the roll-up folds them into the balance.'),
        ),
        migrations.AlterField(
            model_name='ledgerentry',
            name='account',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='wallet.ledgeraccount'),
        ),
        migrations.AlterField(
            model_name='ledgerentry',
            name='transaction',
            field=models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name='entries', to='wallet.ledgertransaction'),
        ),
        migrations.AlterField(
            model_name='ledgertransaction',
            name='idempotency_key',
            field=models.CharField(max_length=200),
        ),
        migrations.AddIndex(
            model_name='ledgerentry',
            index=models.Index(fields=['account', 'id'], include=('amount',), name='wallet_entry_account_pending'),
        ),
        migrations.AddConstraint(
            model_name='ledgertransaction',
            constraint=models.UniqueConstraint(fields=('idempotency_key',), name='wallet_ledgertransaction_unique_key'),
        ),
        migrations.AddConstraint(
            model_name='ledgerrollupmark',
            constraint=models.CheckConstraint(condition=models.Q(('id', 1)), name='wallet_ledgerrollupmark_singleton'),
        ),
        migrations.RunSQL(FOLD_DELTAS_SQL, migrations.RunSQL.noop),
        migrations.RemoveConstraint(
            model_name='ledgerbalancedelta',
            name='wallet_ledgerbalancedelta_amount_nonzero',
        ),
        migrations.DeleteModel(
            name='LedgerBalanceDelta',
        ),
        migrations.RunSQL(CHECK_INSERTED_SQL, CHECK_INSERTED_REVERSE_SQL),
        migrations.RunSQL(SPEND_FUNCTION_SQL, SPEND_FUNCTION_REVERSE_SQL),
    ]
