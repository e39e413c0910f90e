"""Tell the planner that ledger entries are spread over many accounts, whatever its sample shows (issue #13).

Balances read an append-only account's pending entries in a correlated subquery (`account = outer account AND
id > its roll-up mark`). Planned for any account, the guess is rows / distinct accounts. Measured on the
dashboard benchmark's database, a million gifts between two accounts: ANALYZE counted 2 accounts, the planner
expected half the table for each, and scanned the primary key from each mark instead of the `(account, id)`
index: 382 ms for each creator account with no entries, 790 ms for the staff report (goal under 100 ms), 300 ms
for an empty creator's dashboard. With this setting: 0.19 ms, 17 ms and 18 ms. Production spreads its entries
over every wallet; a new or quiet database does not, and its plans must not depend on it.

`n_distinct = -0.01` reads as "one account for every hundred entries". It only replaces ANALYZE's estimate of
the count; the most common accounts and their frequencies are still sampled, so a lookup of a named busy
account is still planned from its real share.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("wallet", "0015_ledger_checks_by_key")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE wallet_ledgerentry ALTER COLUMN account_id SET (n_distinct = -0.01); "
            "ANALYZE wallet_ledgerentry",
            reverse_sql="ALTER TABLE wallet_ledgerentry ALTER COLUMN account_id RESET (n_distinct)",
        ),
    ]
