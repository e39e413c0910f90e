"""The ledger audit: clean on a healthy ledger, loud and specific on a corrupted one."""

import contextlib
import datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from wallet.audit import ledger_audit_run
from wallet.ledger import (
    account_for_user,
    ledger_move,
    ledger_post,
    ledger_rollup,
    ledger_rollup_pending,
    system_account,
)
from wallet.models import Asset, LedgerAuditRun, SystemAccount
from wallet.tasks import ledger_audit_daily
from wallet.tests.support import fund, gift_lines

pytestmark = pytest.mark.django_db

COIN, DIAMOND = Asset.COIN, Asset.DIAMOND
INSERT_ENTRY = (
    "INSERT INTO wallet_ledgerentry (transaction_id, account_id, asset, amount, created_at) "
    "VALUES (%s, %s, %s, %s, now()) RETURNING id"
)


@pytest.fixture
def ledger(alice, bob):
    """A small healthy ledger: a top-up, a gift, a partly rolled-up creator, a payout."""
    alice_coins, bob_diamonds = account_for_user(alice, COIN), account_for_user(bob, DIAMOND)
    fund(alice_coins, 100, "topup:1")
    ledger_post(
        idempotency_key="gift:1",
        kind="gift",
        lines=gift_lines(viewer_coins=alice_coins, creator_diamonds=bob_diamonds, amount=60),
    )
    ledger_rollup(account=bob_diamonds)
    ledger_post(
        idempotency_key="gift:2",
        kind="gift",
        lines=gift_lines(viewer_coins=alice_coins, creator_diamonds=bob_diamonds, amount=10),
    )
    payout = ledger_move(
        source=bob_diamonds,
        destination=system_account(SystemAccount.DIAMONDS_CLEARING),
        asset=DIAMOND,
        amount=50,
        idempotency_key="payout:1",
        kind="payout",
    )
    return {"alice_coins": alice_coins, "bob_diamonds": bob_diamonds, "payout": payout}


@contextlib.contextmanager
def triggers_off():
    """Corrupt on purpose: replica mode skips triggers and foreign-key checks for this transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = origin")


def sql(statement: str, params: list | None = None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone() if cursor.description else None


def failing_checks() -> set[str]:
    return {check.name for check in ledger_audit_run().checks if not check.ok}


def test_audit_is_clean_after_normal_postings(ledger, capsys):
    report = ledger_audit_run()

    assert report.ok
    assert report.problem_count == 0
    checked = {check.name: check.checked for check in report.checks}
    assert checked["transactions_balanced"] == 4
    assert checked["entries_not_orphaned"] == 2 + 4 + 4 + 2
    assert checked["cached_balances_match_entries"] == 2 + len(SystemAccount)
    assert checked["user_balances_nonnegative"] == 2
    call_command("ledger_audit")
    output = capsys.readouterr().out
    assert "[  ok] every transaction balances to zero per asset: 4 transactions checked, 0 problem(s)" in output
    assert "[  ok] no user balance is negative: 2 user accounts checked, 0 problem(s)" in output
    assert "Ledger audit passed" in output


def test_audit_names_an_account_whose_cached_balance_was_tampered_with(ledger, capsys):
    alice_coins = ledger["alice_coins"]
    sql("UPDATE wallet_ledgeraccount SET balance = balance + 5 WHERE id = %s", [alice_coins.pk])

    with pytest.raises(
        CommandError,
        match=rf"account {alice_coins.pk}: cached balance 35 \(column 35 \+ pending 0\) "
        r"but its entries sum to 30",
    ):
        call_command("ledger_audit")

    assert failing_checks() == {"cached_balances_match_entries"}
    assert "[FAIL] every cached balance" in capsys.readouterr().out


def test_audit_names_an_unbalanced_transaction(ledger):
    payout = ledger["payout"]
    with triggers_off():
        sql(INSERT_ENTRY, [payout.pk, ledger["bob_diamonds"].pk, DIAMOND, 7])

    with pytest.raises(CommandError, match=rf"transaction {payout.pk}: its DIAMOND entries sum to 7, not 0"):
        call_command("ledger_audit")

    # Bob's diamond wallet is append-only and not rolled up past the stray entry: the entry is pending
    # there, so only the transaction's balance gives it away.
    assert failing_checks() == {"transactions_balanced"}


def test_audit_names_an_entry_below_the_roll_up_mark(ledger):
    ledger_rollup(account=ledger["bob_diamonds"])
    with triggers_off():
        sql(INSERT_ENTRY, [ledger["payout"].pk, ledger["bob_diamonds"].pk, DIAMOND, 7])
    sql("UPDATE wallet_ledgeraccount SET rolled_up_through = 10 ^ 12 WHERE id = %s", [ledger["bob_diamonds"].pk])

    with pytest.raises(CommandError, match="cached balance"):
        call_command("ledger_audit")

    assert failing_checks() >= {"transactions_balanced", "cached_balances_match_entries"}


def test_audit_names_a_transaction_without_entries(ledger):
    with triggers_off():
        (empty_pk,) = sql(
            "INSERT INTO wallet_ledgertransaction (idempotency_key, kind, memo, metadata, created_at) "
            "VALUES ('empty:1', 'topup', '', '{}', now()) RETURNING id"
        )

    with pytest.raises(CommandError, match=rf"transaction {empty_pk} \('empty:1'\) has no entries"):
        call_command("ledger_audit")

    assert failing_checks() == {"transactions_have_entries"}


def test_audit_names_orphan_entries(ledger):
    with triggers_off():
        (first_pk,) = sql(INSERT_ENTRY, [987654, ledger["alice_coins"].pk, COIN, 3])
        (second_pk,) = sql(INSERT_ENTRY, [987654, system_account(SystemAccount.COINS_ISSUED).pk, COIN, -3])

    with pytest.raises(CommandError, match=rf"entry {first_pk} points at missing transaction 987654") as raised:
        call_command("ledger_audit")

    assert f"entry {second_pk} points at missing transaction 987654" in str(raised.value)
    assert "entries_not_orphaned" in failing_checks()


def test_audit_names_an_entry_in_the_wrong_asset(ledger):
    payout = ledger["payout"]
    alice_coins = ledger["alice_coins"]
    with triggers_off():
        (wrong_pk,) = sql(INSERT_ENTRY, [payout.pk, alice_coins.pk, DIAMOND, 4])
        sql(INSERT_ENTRY, [payout.pk, system_account(SystemAccount.DIAMONDS_CLEARING).pk, DIAMOND, -4])

    with pytest.raises(CommandError, match=rf"entry {wrong_pk} is in DIAMOND but account {alice_coins.pk} holds COIN"):
        call_command("ledger_audit")

    assert "entry_asset_matches_account" in failing_checks()


def test_audit_names_a_negative_user_balance(ledger):
    bob_diamonds = ledger["bob_diamonds"]
    with triggers_off():  # a balanced pair that takes 100 diamonds bob does not have
        sql(INSERT_ENTRY, [ledger["payout"].pk, bob_diamonds.pk, DIAMOND, -100])
        sql(INSERT_ENTRY, [ledger["payout"].pk, system_account(SystemAccount.DIAMONDS_CLEARING).pk, DIAMOND, 100])

    with pytest.raises(
        CommandError,
        match=rf"account {bob_diamonds.pk} \(user {bob_diamonds.user_id}, DIAMOND\) "
        r"is negative: cached -80, entries -80",
    ):
        call_command("ledger_audit")

    assert failing_checks() == {"user_balances_nonnegative"}


def test_audit_names_a_day_total_that_disagrees_with_its_entries(ledger):
    ledger_rollup_pending()
    assert ledger_audit_run().ok
    alice_coins = ledger["alice_coins"]
    today = timezone.now().date()
    tamper = "UPDATE wallet_ledgerdaytotal SET amount = amount - 1 WHERE account_id = %s AND kind = 'gift'"
    sql(tamper, [alice_coins.pk])

    with pytest.raises(
        CommandError,
        match=rf"account {alice_coins.pk} on {today}, gift: the day total is -71 "
        r"but its entries up to the mark sum to -70",
    ):
        call_command("ledger_audit")

    assert failing_checks() == {"day_totals_match_entries"}


def test_audit_names_a_roll_up_mark_past_the_ledger(ledger):
    bob_diamonds = ledger["bob_diamonds"]
    sql("UPDATE wallet_ledgeraccount SET rolled_up_through = 10 ^ 12 WHERE id = %s", [bob_diamonds.pk])

    with pytest.raises(CommandError, match=rf"account {bob_diamonds.pk} has the roll-up mark"):
        call_command("ledger_audit")

    assert "rollup_marks_valid" in failing_checks()


def test_audit_lists_a_bounded_number_of_rows(ledger, capsys):
    with triggers_off():
        for _ in range(3):
            sql(INSERT_ENTRY, [ledger["payout"].pk, ledger["bob_diamonds"].pk, DIAMOND, 1])

    report = ledger_audit_run(max_listed=1)

    balanced = next(check for check in report.checks if check.name == "transactions_balanced")
    assert (balanced.problem_count, len(balanced.problems)) == (1, 1)
    with pytest.raises(CommandError):
        call_command("ledger_audit", "--max-listed", "0")
    assert "... and 1 more" in capsys.readouterr().out


# --- The daily task -------------------------------------------------------------------------------


def test_daily_audit_stores_a_clean_run_and_sends_nothing(ledger, mailoutbox):
    run_pk = ledger_audit_daily.delay(run_date="2026-11-22").get()

    run = LedgerAuditRun.objects.get(pk=run_pk)
    assert (run.run_date, run.is_clean, run.problem_count, run.alert_sent_at) == (
        datetime.date(2026, 11, 22),
        True,
        0,
        None,
    )
    assert run.finished_at is not None
    assert run.report["ok"] is True
    assert mailoutbox == []


def test_daily_audit_emails_staff_once_when_it_fails(ledger, mailoutbox, settings):
    settings.STAFF_ALERT_EMAILS = ["ops@example.com", "cfo@example.com"]
    alice_coins = ledger["alice_coins"]
    sql("UPDATE wallet_ledgeraccount SET balance = balance + 5 WHERE id = %s", [alice_coins.pk])

    run_pk = ledger_audit_daily.delay(run_date="2026-11-22").get()
    # A re-delivered or re-scheduled task for the same day sends nothing more.
    assert ledger_audit_daily.delay(run_date="2026-11-22").get() == run_pk

    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["ops@example.com", "cfo@example.com"]
    assert email.subject == "[Coinsite] Ledger audit FAILED for 2026-11-22: 1 problem(s)"
    assert f"account {alice_coins.pk}: cached balance 35" in email.body
    run = LedgerAuditRun.objects.get(pk=run_pk)
    assert (run.is_clean, run.problem_count) == (False, 1)
    assert run.alert_sent_at is not None
    assert run.report["checks"][4]["problems"] == [
        f"account {alice_coins.pk}: cached balance 35 (column 35 + pending 0) but its entries sum to 30"
    ]


def test_daily_audit_defaults_to_today(ledger, mailoutbox):
    run_pk = ledger_audit_daily.delay().get()

    assert LedgerAuditRun.objects.get(pk=run_pk).run_date == timezone.localdate()
    assert mailoutbox == []
