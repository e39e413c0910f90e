"""Database-side ledger rules that Django constraints cannot express (docs/design.md §2 "The ledger").

- Transactions and entries are append-only: any UPDATE or DELETE statement on them raises.
  (TRUNCATE is left alone: the test runner flushes tables with it, and it needs table-owner
  rights that the application role should not have in production.)
- Entries inserted by one statement must leave every transaction they touch balanced per asset,
  and each entry's asset must be its account's asset.
- A transaction must have entries by the time its database transaction commits.
- The system accounts exist.
"""

from django.db import migrations

APPEND_ONLY_SQL = """
CREATE FUNCTION wallet_ledger_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger table % is append-only: % is not allowed; post a correcting transaction',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER wallet_ledgertransaction_append_only
    BEFORE UPDATE OR DELETE ON wallet_ledgertransaction
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_ledger_forbid_change();

CREATE TRIGGER wallet_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON wallet_ledgerentry
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_ledger_forbid_change();
"""

APPEND_ONLY_REVERSE_SQL = """
DROP TRIGGER wallet_ledgerentry_append_only ON wallet_ledgerentry;
DROP TRIGGER wallet_ledgertransaction_append_only ON wallet_ledgertransaction;
DROP FUNCTION wallet_ledger_forbid_change();
"""

# A statement-level trigger with a transition table runs once per INSERT, however many entries
# it carries, so the hot path pays one check per posting rather than one per entry.
BALANCED_SQL = """
CREATE FUNCTION wallet_ledgerentry_check_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.id, n.account_id, n.asset AS entry_asset, a.asset AS account_asset INTO bad
      FROM new_entries n JOIN wallet_ledgeraccount a ON a.id = n.account_id
     WHERE a.asset <> n.asset
     LIMIT 1;
    IF FOUND THEN
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

CREATE TRIGGER wallet_ledgerentry_balanced
    AFTER INSERT ON wallet_ledgerentry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION wallet_ledgerentry_check_inserted();

CREATE FUNCTION wallet_ledgertransaction_check_has_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM wallet_ledgerentry WHERE transaction_id = NEW.id) THEN
        RAISE EXCEPTION 'ledger transaction % (%) has no entries', NEW.id, NEW.idempotency_key
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER wallet_ledgertransaction_has_entries
    AFTER INSERT ON wallet_ledgertransaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION wallet_ledgertransaction_check_has_entries();
"""

BALANCED_REVERSE_SQL = """
DROP TRIGGER wallet_ledgertransaction_has_entries ON wallet_ledgertransaction;
DROP FUNCTION wallet_ledgertransaction_check_has_entries();
DROP TRIGGER wallet_ledgerentry_balanced ON wallet_ledgerentry;
DROP FUNCTION wallet_ledgerentry_check_inserted();
"""

SYSTEM_ACCOUNTS = {
    "coins_issued": "COIN",
    "coins_consumed": "COIN",
    "coins_clearing": "COIN",
    "coins_receivable": "COIN",
    "diamonds_issued": "DIAMOND",
    "diamonds_redeemed": "DIAMOND",
    "diamonds_clearing": "DIAMOND",
    "diamonds_receivable": "DIAMOND",
}


def create_system_accounts(apps, schema_editor):
    LedgerAccount = apps.get_model("wallet", "LedgerAccount")
    for code, asset in SYSTEM_ACCOUNTS.items():
        LedgerAccount.objects.get_or_create(
            code=code, defaults={"kind": "system", "asset": asset, "append_only_balance": True})


class Migration(migrations.Migration):

    dependencies = [
        ("wallet", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(APPEND_ONLY_SQL, APPEND_ONLY_REVERSE_SQL),
        migrations.RunSQL(BALANCED_SQL, BALANCED_REVERSE_SQL),
        migrations.RunPython(create_system_accounts, migrations.RunPython.noop),
    ]
