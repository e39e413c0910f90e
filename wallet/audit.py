"""The ledger audit: verifies every ledger invariant the database cannot enforce on its own.

`ledger_audit_run()` is shared by the `ledger_audit` management command and the daily Celery
task. All checks read one snapshot (REPEATABLE READ), so postings running meanwhile cannot make
a consistent ledger look broken.
"""

import dataclasses
from typing import Any

from django.db import connection
from django.utils import timezone

from coinsite.lib.snapshot import one_snapshot

MAX_LISTED = 100


@dataclasses.dataclass(frozen=True)
class AuditCheck:
    name: str
    description: str
    checked: int
    checked_what: str
    problem_count: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


@dataclasses.dataclass(frozen=True)
class AuditReport:
    started_at: str
    checks: list[AuditCheck]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def problem_count(self) -> int:
        return sum(check.problem_count for check in self.checks)

    def lines(self) -> list[str]:
        """Human-readable report: one line per check, then one per listed offending row."""
        lines = []
        for check in self.checks:
            status = "ok" if check.ok else "FAIL"
            counts = f"{check.checked} {check.checked_what} checked, {check.problem_count} problem(s)"
            lines.append(f"[{status:>4}] {check.description}: {counts}")
            lines.extend(f"         - {problem}" for problem in check.problems)
            if check.problem_count > len(check.problems):
                lines.append(f"         ... and {check.problem_count - len(check.problems)} more")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "ok": self.ok,
            "problem_count": self.problem_count,
            "checks": [dataclasses.asdict(check) for check in self.checks],
        }


# An append-only account's entries after its roll-up mark (0 for other accounts), and every account's
# entry total, as SQL fragments over `wallet_ledgeraccount a`.
_PENDING = (
    "(CASE WHEN a.append_only_balance THEN COALESCE((SELECT SUM(p.amount) FROM wallet_ledgerentry p "
    "WHERE p.account_id = a.id AND p.id > a.rolled_up_through), 0) ELSE 0 END)"
)
_ENTRY_TOTALS = (
    "LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM wallet_ledgerentry GROUP BY account_id) e "
    "ON e.account_id = a.id"
)

# Each check: (name, description, what is counted, SQL counting it, SQL listing offending rows as
# (message format, row) pairs). Table names are fixed by the wallet models.
CHECKS = [
    (
        "transactions_balanced",
        "every transaction balances to zero per asset",
        "transactions",
        "SELECT COUNT(*) FROM wallet_ledgertransaction",
        "SELECT transaction_id, asset, SUM(amount) FROM wallet_ledgerentry "
        "GROUP BY transaction_id, asset HAVING SUM(amount) <> 0 ORDER BY transaction_id, asset",
        "transaction {0}: its {1} entries sum to {2}, not 0",
    ),
    (
        "transactions_have_entries",
        "every transaction has entries",
        "transactions",
        "SELECT COUNT(*) FROM wallet_ledgertransaction",
        "SELECT t.id, t.idempotency_key FROM wallet_ledgertransaction t "
        "WHERE NOT EXISTS (SELECT 1 FROM wallet_ledgerentry e WHERE e.transaction_id = t.id) ORDER BY t.id",
        "transaction {0} ({1!r}) has no entries",
    ),
    (
        "entries_not_orphaned",
        "every entry belongs to an existing transaction and account",
        "entries",
        "SELECT COUNT(*) FROM wallet_ledgerentry",
        "SELECT e.id, e.transaction_id, e.account_id FROM wallet_ledgerentry e "
        "LEFT JOIN wallet_ledgertransaction t ON t.id = e.transaction_id "
        "LEFT JOIN wallet_ledgeraccount a ON a.id = e.account_id "
        "WHERE t.id IS NULL OR a.id IS NULL ORDER BY e.id",
        "entry {0} points at missing transaction {1} or account {2}",
    ),
    (
        "entry_asset_matches_account",
        "every entry's asset is its account's asset",
        "entries",
        "SELECT COUNT(*) FROM wallet_ledgerentry",
        "SELECT e.id, e.asset, a.id, a.asset FROM wallet_ledgerentry e "
        "JOIN wallet_ledgeraccount a ON a.id = e.account_id WHERE e.asset <> a.asset ORDER BY e.id",
        "entry {0} is in {1} but account {2} holds {3}",
    ),
    (
        "cached_balances_match_entries",
        "every cached balance (column plus pending entries) equals the sum of its entries",
        "accounts",
        "SELECT COUNT(*) FROM wallet_ledgeraccount",
        f"SELECT a.id, a.balance + {_PENDING}, a.balance, {_PENDING}, COALESCE(e.total, 0) "  # noqa: S608
        f"FROM wallet_ledgeraccount a {_ENTRY_TOTALS} "
        f"WHERE a.balance + {_PENDING} <> COALESCE(e.total, 0) ORDER BY a.id",
        "account {0}: cached balance {1} (column {2} + pending {3}) but its entries sum to {4}",
    ),
    (
        "rollup_marks_valid",
        "only append-only accounts have a roll-up mark, and no mark is past the last entry",
        "accounts",
        "SELECT COUNT(*) FROM wallet_ledgeraccount",
        "SELECT a.id, a.rolled_up_through FROM wallet_ledgeraccount a "
        "WHERE a.rolled_up_through < 0 OR (NOT a.append_only_balance AND a.rolled_up_through <> 0) "
        "OR a.rolled_up_through > (SELECT COALESCE(MAX(id), 0) FROM wallet_ledgerentry) ORDER BY a.id",
        "account {0} has the roll-up mark {1}",
    ),
    (
        "day_totals_match_entries",
        "every user account's day totals equal its entries up to their mark, day by day and kind by kind",
        "day totals",
        "SELECT COUNT(*) FROM wallet_ledgerdaytotal",
        "SELECT COALESCE(d.account_id, e.account_id), COALESCE(d.day, e.day), COALESCE(d.kind, e.kind), "
        "COALESCE(d.amount, 0), COALESCE(e.amount, 0) FROM wallet_ledgerdaytotal d FULL JOIN ("
        "  SELECT e.account_id, (e.created_at AT TIME ZONE 'UTC')::date AS day, t.kind, SUM(e.amount) AS amount "
        "    FROM wallet_ledgerentry e JOIN wallet_ledgeraccount a ON a.id = e.account_id AND a.kind = 'user' "
        "    JOIN wallet_ledgertransaction t ON t.id = e.transaction_id "
        "   WHERE e.id <= (SELECT COALESCE(MAX(day_totals_through), 0) FROM wallet_ledgerrollupmark) "
        "   GROUP BY 1, 2, 3"
        ") e ON e.account_id = d.account_id AND e.day = d.day AND e.kind = d.kind "
        "WHERE COALESCE(d.amount, 0) <> COALESCE(e.amount, 0) ORDER BY 1, 2, 3",
        "account {0} on {1}, {2}: the day total is {3} but its entries up to the mark sum to {4}",
    ),
    (
        "user_balances_nonnegative",
        "no user balance is negative",
        "user accounts",
        "SELECT COUNT(*) FROM wallet_ledgeraccount WHERE kind = 'user'",
        f"SELECT a.id, a.user_id, a.asset, a.balance + {_PENDING}, COALESCE(e.total, 0) "  # noqa: S608
        f"FROM wallet_ledgeraccount a {_ENTRY_TOTALS} "
        f"WHERE a.kind = 'user' AND (a.balance < 0 OR a.balance + {_PENDING} < 0 "
        "OR COALESCE(e.total, 0) < 0) ORDER BY a.id",
        "account {0} (user {1}, {2}) is negative: cached {3}, entries {4}",
    ),
]


def ledger_audit_run(*, max_listed: int = MAX_LISTED) -> AuditReport:
    """Check every ledger invariant on one consistent snapshot; lists up to `max_listed` rows per check.

    Read-only. Called outside a transaction it opens a REPEATABLE READ READ ONLY one; inside a
    caller's transaction it reads whatever that transaction sees.
    """
    started_at = timezone.now().isoformat()
    with one_snapshot():
        return AuditReport(started_at=started_at, checks=_run_checks(max_listed))


def _run_checks(max_listed: int) -> list[AuditCheck]:
    checks = []
    with connection.cursor() as cursor:
        for name, description, checked_what, count_sql, problems_sql, message in CHECKS:
            cursor.execute(count_sql)
            checked = cursor.fetchone()[0]
            cursor.execute(f"SELECT COUNT(*) FROM ({problems_sql}) AS offending")  # noqa: S608 (constant SQL)
            problem_count = cursor.fetchone()[0]
            problems = []
            if problem_count:
                cursor.execute(f"{problems_sql} LIMIT %s", [max_listed])
                problems = [message.format(*row) for row in cursor.fetchall()]
            checks.append(
                AuditCheck(
                    name=name,
                    description=description,
                    checked=checked,
                    checked_what=checked_what,
                    problem_count=problem_count,
                    problems=problems,
                )
            )
    return checks
