"""The ledger's insert checks go by primary key whatever the planner's statistics say (issue #13).

Measured on a new database (PostgreSQL here runs with autovacuum off, so its tables are never analyzed):
the entry trigger's queries, planned once per connection while the tables were empty, chose hash joins over
sequential scans of every ledger transaction and entry, and kept them: each gift then read the whole ledger
(103 million entries read for 25,000 gifts; 14-20 ms of database CPU a gift instead of about 1).

- Balance: each statement's entries must balance per transaction and asset by themselves. Entries are
  append-only, so this is the rule as it was (the whole transaction had to balance after every statement:
  it did before, so what the statement adds must), and it reads only the inserted rows, never the table.
- Each entry's transaction and account: one query, planned with sequential scans, hash and merge joins
  off (the function's own settings), so every lookup is by primary key.
- The deferred has-entries check likewise looks the transaction's entries up by its index.
"""

import importlib

from django.db import migrations

previous = importlib.import_module("wallet.migrations.0012_ledger_lean_posting")

CHECK_INSERTED_SQL = """
CREATE OR REPLACE FUNCTION wallet_ledgerentry_check_inserted() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.id, n.transaction_id, n.account_id, n.asset AS entry_asset, a.asset AS account_asset,
           t.id IS NULL AS transaction_missing
      INTO bad
      FROM new_entries n
      LEFT JOIN wallet_ledgertransaction t ON t.id = n.transaction_id
      LEFT JOIN wallet_ledgeraccount a ON a.id = n.account_id
     WHERE t.id IS NULL OR a.asset IS DISTINCT FROM n.asset
     LIMIT 1;
    IF FOUND AND bad.transaction_missing THEN
        RAISE EXCEPTION 'ledger entry % points at missing transaction %', bad.id, bad.transaction_id
            USING ERRCODE = 'foreign_key_violation';
    ELSIF FOUND AND bad.account_asset IS NULL THEN
        RAISE EXCEPTION 'ledger entry % points at missing account %', bad.id, bad.account_id
            USING ERRCODE = 'foreign_key_violation';
    ELSIF FOUND THEN
        RAISE EXCEPTION 'ledger entry % is in % but account % holds %',
            bad.id, bad.entry_asset, bad.account_id, bad.account_asset USING ERRCODE = 'check_violation';
    END IF;
    SELECT n.transaction_id, n.asset, SUM(n.amount) AS total INTO bad
      FROM new_entries n
     GROUP BY n.transaction_id, n.asset
    HAVING SUM(n.amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance: its % entries sum to %',
            bad.transaction_id, bad.asset, bad.total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;

ALTER FUNCTION wallet_ledgertransaction_check_has_entries() SET enable_seqscan = off;
"""

# As wallet migration 0012 left them (its text, up to the account-delete guard it also created).
_PREVIOUS_CHECK_SQL = previous.CHECK_INSERTED_SQL.split("CREATE FUNCTION wallet_ledgeraccount_forbid_delete_used")[0]
assert _PREVIOUS_CHECK_SQL.lstrip().startswith("CREATE OR REPLACE FUNCTION wallet_ledgerentry_check_inserted()")
CHECK_INSERTED_REVERSE_SQL = (
    _PREVIOUS_CHECK_SQL
    + """
ALTER FUNCTION wallet_ledgerentry_check_inserted() RESET ALL;
ALTER FUNCTION wallet_ledgertransaction_check_has_entries() RESET ALL;
"""
)


class Migration(migrations.Migration):
    dependencies = [("wallet", "0014_merge_ledger")]

    operations = [migrations.RunSQL(CHECK_INSERTED_SQL, CHECK_INSERTED_REVERSE_SQL)]
