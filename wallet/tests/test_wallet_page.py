"""The viewer's wallet pages: overview, coin history with filters, CSV export, and spending controls."""

import datetime
import re
import uuid
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from djmoney.money import Money

from coinsite.accounts.tests.factories import make_user
from coinsite.lib.l10n import format_datetime_local
from wallet.ledger import account_for_user, ledger_credit, ledger_debit, ledger_rollup_pending
from wallet.models import Asset, SpendingControls, TopUp, TopUpStatus
from wallet.spending import spending_limits_set
from wallet.valuation import Valuation

pytestmark = pytest.mark.django_db

COIN = Asset.COIN
UTC = datetime.UTC
MINUS = "\N{MINUS SIGN}"  # how the history shows coins leaving the wallet
INDEX, CSV, CONTROLS = reverse("wallet:index"), reverse("wallet:history-csv"), reverse("wallet:controls")


# --- Helpers ------------------------------------------------------------------------------------


@contextmanager
def clock(moment: datetime.datetime):
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def credit(user, coins: int, *, kind: str = "topup", memo: str = "", at: datetime.datetime | None = None):
    with clock(at or timezone.now()):
        return ledger_credit(
            account=account_for_user(user, COIN),
            asset=COIN,
            amount=coins,
            memo=memo,
            idempotency_key=f"test:{uuid.uuid4()}",
            kind=kind,
        )


def debit(user, coins: int, *, kind: str = "gift", memo: str = "", at: datetime.datetime | None = None):
    with clock(at or timezone.now()):
        return ledger_debit(
            account=account_for_user(user, COIN),
            asset=COIN,
            amount=coins,
            memo=memo,
            idempotency_key=f"test:{uuid.uuid4()}",
            kind=kind,
        )


def topup(user, *, coins: int, price: str, currency: str = "USD", status: str = TopUpStatus.SUCCEEDED) -> TopUp:
    now = timezone.now()
    posting = credit(user, coins, memo=f"Recharge: {coins:,} coins") if status == TopUpStatus.SUCCEEDED else None
    return TopUp.objects.create(
        user=user,
        coins=coins,
        amount=Money(price, currency),
        country=user.country,
        payment_method="card",
        provider="sandbox",
        status=status,
        expires_at=now + datetime.timedelta(hours=1),
        completed_at=now if status != TopUpStatus.PENDING else None,
        ledger_transaction=posting,
    )


def history_rows(response) -> list[str]:
    """The history table's rows as text, one string per row, cells separated by " | "."""
    body = response.content.decode()
    table = re.search(r'<table[^>]*data-testid="history".*?<tbody>(.*?)</tbody>', body, re.S)
    if table is None:
        return []
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1), re.S)
    return [" | ".join(_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)) for row in rows]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def page_text(response) -> str:
    return _text(response.content.decode())


def shown_moment(moment: datetime.datetime) -> str:
    """How the page writes a moment for a viewer in English and UTC (page_text's spaces)."""
    with translation.override("en"):
        return _text(format_datetime_local(moment))


def csv_text(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def statement(alice):
    """Alice's coin movements of early November 2026, one of each type."""
    credit(alice, 1_000, memo="Recharge: 1,000 coins", at=datetime.datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    debit(alice, 50, memo="5 x Rose", at=datetime.datetime(2026, 11, 3, 10, 30, tzinfo=UTC))
    debit(
        alice,
        20,
        kind="adjustment",
        memo="Correction: duplicate bonus",
        at=datetime.datetime(2026, 11, 4, 8, 0, tzinfo=UTC),
    )
    credit(
        alice,
        30,
        kind="refund",
        memo="Refund: gift not delivered",
        at=datetime.datetime(2026, 11, 5, 12, 0, tzinfo=UTC),
    )
    return alice


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


# --- Access -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url"), [("get", INDEX), ("get", CSV), ("get", CONTROLS), ("post", CONTROLS)])
def test_wallet_pages_require_login(client, method, url):
    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_limits_cannot_be_changed_without_login(client, alice):
    client.post(CONTROLS, {"action": "limits", "daily_limit": "5", "monthly_limit": ""})
    client.post(CONTROLS, {"action": "pause", "period": "30d", "confirm": "on"})

    assert not SpendingControls.objects.filter(user=alice).exists()


# --- Overview -----------------------------------------------------------------------------------


def test_overview_shows_the_balance_and_its_money_value(alice_client, alice):
    credit(alice, 1_000)

    response = alice_client.get(INDEX)

    assert response.status_code == 200
    balance = response.content.decode()
    assert re.search(r'data-testid="balance">.*?1,000 coins</p>', balance)
    assert 'data-testid="balance-value">Worth $14.14</p>' in balance  # 1,000 x USD 0.014143
    assert f'href="{reverse("wallet:recharge")}">Buy coins</a>' in balance


def test_overview_values_coins_in_the_preferred_currency(client):
    yuki = make_user(email="yuki@example.com", password=None, country="JP", preferred_currency="JPY")
    credit(yuki, 700)
    client.force_login(yuki)

    response = client.get(INDEX)

    assert 'data-testid="balance-value">Worth ¥1,600</p>' in response.content.decode()  # 700 x 2.285714


def test_overview_for_a_new_viewer_shows_an_empty_wallet(alice_client, alice):
    response = alice_client.get(INDEX)

    body = response.content.decode()
    assert re.search(r'data-testid="balance">.*?0 coins</p>', body)
    assert "Worth $0.00" in body
    assert "No coin movements yet." in body
    assert "No top-ups yet." in body
    assert not SpendingControls.objects.filter(user=alice).exists()


def test_overview_shows_this_months_spending_and_recharges_by_currency(alice_client, alice):
    topup(alice, coins=700, price="9.99")
    topup(alice, coins=350, price="4.49", currency="GBP")
    topup(alice, coins=70, price="0.99", status=TopUpStatus.FAILED)
    debit(alice, 100)

    response = alice_client.get(INDEX)

    body = response.content.decode()
    assert re.search(r'data-testid="spent-month">.*?100 coins</span> <span class="coin-value">\(\$1\.41\)', body)
    recharged = re.search(r'data-testid="recharged-month">(.*?)</dd>', body).group(1)
    assert recharged == "£4.49, $9.99"


def test_overview_lists_recent_topups_with_status_and_receipt_link(alice_client, alice, bob):
    paid = topup(alice, coins=700, price="9.99")
    failed = topup(alice, coins=70, price="0.99", status=TopUpStatus.FAILED)
    other = topup(bob, coins=1_400, price="17.99", currency="GBP")

    body = alice_client.get(INDEX).content.decode()

    assert reverse("wallet:topup-detail", args=[paid.public_id]) in body
    assert reverse("wallet:topup-detail", args=[failed.public_id]) in body
    assert reverse("wallet:topup-detail", args=[other.public_id]) not in body
    assert '<span class="badge badge-ok">Paid</span>' in body
    assert '<span class="badge badge-muted">Payment failed</span>' in body


# --- History ------------------------------------------------------------------------------------


def test_history_lists_every_coin_movement_newest_first_with_values_and_balances(alice_client, statement):
    response = alice_client.get(INDEX)

    assert history_rows(response) == [
        "Nov 5, 2026, 12:00 PM (UTC) | Refund | Refund: gift not delivered | +30 coins ($0.42) | 960 coins ($13.58)",
        f"Nov 4, 2026, 8:00 AM (UTC) | Correction | Correction: duplicate bonus | {MINUS}20 coins ($0.28) "
        "| 930 coins ($13.15)",
        f"Nov 3, 2026, 10:30 AM (UTC) | Gift | 5 x Rose | {MINUS}50 coins ($0.71) | 950 coins ($13.44)",
        "Nov 2, 2026, 9:00 AM (UTC) | Recharge | Recharge: 1,000 coins | +1,000 coins ($14.14) | 1,000 coins ($14.14)",
    ]
    assert "4 movements." in page_text(response)


def test_history_never_shows_other_users_movements(alice_client, statement, bob):
    credit(bob, 5_000, memo="Bob's secret recharge")
    debit(bob, 10, memo="Bob's secret gift")

    response = alice_client.get(INDEX)
    export = csv_text(alice_client.get(CSV))

    assert len(history_rows(response)) == 4
    assert "Bob&#x27;s secret" not in response.content.decode()
    assert "Bob's secret" not in export
    assert "5,000" not in response.content.decode()


@pytest.mark.parametrize(
    ("query", "descriptions"),
    [
        ({"type": "gift"}, ["5 x Rose"]),
        ({"type": "recharge"}, ["Recharge: 1,000 coins"]),
        ({"type": "correction"}, ["Correction: duplicate bonus"]),
        ({"type": "refund"}, ["Refund: gift not delivered"]),
        ({"date_from": "2026-11-03", "date_to": "2026-11-04"}, ["Correction: duplicate bonus", "5 x Rose"]),
        ({"date_from": "2026-11-05"}, ["Refund: gift not delivered"]),
        ({"date_to": "2026-11-02"}, ["Recharge: 1,000 coins"]),
        ({"type": "gift", "date_from": "2026-11-04"}, []),
    ],
)
def test_history_filters_by_type_and_date(alice_client, statement, query, descriptions):
    response = alice_client.get(INDEX, query)

    assert response.status_code == 200
    assert [row.split(" | ")[2] for row in history_rows(response)] == descriptions
    if not descriptions:
        assert "No coin movements match these filters." in response.content.decode()


def test_filtered_history_keeps_the_true_balance_after_each_movement(alice_client, statement):
    response = alice_client.get(INDEX, {"type": "correction"})

    assert history_rows(response) == [
        f"Nov 4, 2026, 8:00 AM (UTC) | Correction | Correction: duplicate bonus | {MINUS}20 coins ($0.28) "
        "| 930 coins ($13.15)",
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"type": "bonus"}, "Choose one of the listed types."),
        ({"date_from": "yesterday"}, "Enter the start date as YYYY-MM-DD."),
        ({"date_to": "2026-02-30"}, "Enter the end date as YYYY-MM-DD."),
        ({"date_from": "2026-11-05", "date_to": "2026-11-01"}, "The end date must be on or after the start date."),
        ({"date_to": "9999-12-31"}, "Enter a date between 2000 and 9999."),
        ({"date_from": "0001-01-01"}, "Enter a date between 2000 and 9999."),
    ],
)
def test_bad_filters_get_a_clear_message_not_an_error_page(alice_client, statement, query, message):
    response = alice_client.get(INDEX, query)

    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert "Some filters are not valid, so no history is shown." in body
    assert history_rows(response) == []
    assert re.search(r'data-testid="balance">.*?960 coins</p>', body)  # the rest of the page still works


def test_history_is_paginated_by_25(alice_client, alice):
    start = datetime.datetime(2026, 10, 1, tzinfo=UTC)
    credit(alice, 1_000, memo="Opening", at=start)
    for number in range(1, 30):
        debit(alice, number, memo=f"Gift {number}", at=start + datetime.timedelta(hours=number))

    first = alice_client.get(INDEX)
    second = alice_client.get(INDEX, {"page": "2"})
    beyond = alice_client.get(INDEX, {"page": "99"})
    garbage = alice_client.get(INDEX, {"page": "abc"})

    assert [row.split(" | ")[2] for row in history_rows(first)] == [f"Gift {n}" for n in range(29, 4, -1)]
    assert [row.split(" | ")[2] for row in history_rows(second)] == ["Gift 4", "Gift 3", "Gift 2", "Gift 1", "Opening"]
    assert history_rows(first)[0].endswith("| 565 coins ($7.99)")  # 1,000 - (1 + 2 + ... + 29)
    assert history_rows(second)[0].endswith("| 990 coins ($14.00)")  # 1,000 - (1 + 2 + 3 + 4)
    assert history_rows(beyond) == history_rows(second)
    assert history_rows(garbage) == history_rows(first)
    assert "Page 1 of 2" in page_text(first)
    assert 'href="?page=2#history" rel="next">Older</a>' in first.content.decode()


def test_pagination_links_keep_the_filters(alice_client, alice):
    start = datetime.datetime(2026, 10, 1, tzinfo=UTC)
    credit(alice, 1_000, at=start)
    for number in range(30):
        debit(alice, 1, at=start + datetime.timedelta(minutes=number + 1))

    response = alice_client.get(INDEX, {"type": "gift", "date_from": "2026-10-01"})

    body = response.content.decode()
    assert 'href="?type=gift&amp;date_from=2026-10-01&amp;page=2#history" rel="next"' in body
    assert f'href="{CSV}?type=gift&amp;date_from=2026-10-01"' in body


def test_history_page_makes_the_same_number_of_queries_for_5_or_25_rows(alice_client, alice):
    credit(alice, 1_000)
    for _ in range(4):
        debit(alice, 1)
    alice_client.get(INDEX)  # the per-coin prices are cached after the first page
    with CaptureQueriesContext(connection) as few:
        alice_client.get(INDEX)
    for _ in range(40):
        debit(alice, 1)
    with CaptureQueriesContext(connection) as many:
        response = alice_client.get(INDEX)

    assert len(history_rows(response)) == 25
    assert len(many.captured_queries) == len(few.captured_queries)


# --- CSV export ---------------------------------------------------------------------------------


def test_csv_export_has_every_movement_with_running_balance_and_value(alice_client, statement):
    response = alice_client.get(CSV)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="coinsite-wallet-history.csv"'
    assert csv_text(response) == (
        "Date (UTC),Type,Description,Coins,Balance after,Value (USD)\r\n"
        '2026-11-02 09:00:00,Recharge,"Recharge: 1,000 coins",1000,1000,14.14\r\n'
        "2026-11-03 10:30:00,Gift,5 x Rose,-50,950,-0.71\r\n"
        "2026-11-04 08:00:00,Correction,Correction: duplicate bonus,-20,930,-0.28\r\n"
        "2026-11-05 12:00:00,Refund,Refund: gift not delivered,30,960,0.42\r\n"
    )


def test_csv_export_follows_the_filters(alice_client, statement):
    response = alice_client.get(CSV, {"type": "gift", "date_from": "2026-11-03", "date_to": "2026-11-30"})

    assert response["Content-Disposition"] == (
        'attachment; filename="coinsite-wallet-history-gift-from-2026-11-03-to-2026-11-30.csv"'
    )
    assert csv_text(response) == (
        "Date (UTC),Type,Description,Coins,Balance after,Value (USD)\r\n"
        "2026-11-03 10:30:00,Gift,5 x Rose,-50,950,-0.71\r\n"
    )


def test_csv_export_of_a_later_range_starts_from_the_right_balance(alice_client, statement):
    response = alice_client.get(CSV, {"date_from": "2026-11-04"})

    assert csv_text(response).splitlines()[1:] == [
        "2026-11-04 08:00:00,Correction,Correction: duplicate bonus,-20,930,-0.28",
        "2026-11-05 12:00:00,Refund,Refund: gift not delivered,30,960,0.42",
    ]


def test_csv_export_from_a_local_midnight_starts_from_the_right_balance_before_and_after_the_roll_up(
    alice_client, statement
):
    statement.time_zone = "Asia/Tokyo"  # 4 November starts at 15:00 UTC on the 3rd, after that day's gift
    statement.save(update_fields=["time_zone"])
    expected = [
        "2026-11-04 08:00:00,Correction,Correction: duplicate bonus,-20,930,-0.28",
        "2026-11-05 12:00:00,Refund,Refund: gift not delivered,30,960,0.42",
    ]

    assert csv_text(alice_client.get(CSV, {"date_from": "2026-11-04"})).splitlines()[1:] == expected
    ledger_rollup_pending()
    assert csv_text(alice_client.get(CSV, {"date_from": "2026-11-04"})).splitlines()[1:] == expected


def test_csv_export_defuses_spreadsheet_formulas_in_descriptions(alice_client, alice):
    credit(
        alice,
        10,
        kind="adjustment",
        memo='=HYPERLINK("http://evil.example")',
        at=datetime.datetime(2026, 11, 1, tzinfo=UTC),
    )

    rows = csv_text(alice_client.get(CSV)).splitlines()

    assert rows[1] == '2026-11-01 00:00:00,Correction,"\'=HYPERLINK(""http://evil.example"")",10,10,0.14'


def test_csv_export_with_bad_filters_goes_back_to_the_page_with_the_message(alice_client, statement):
    response = alice_client.get(CSV, {"date_from": "soon"}, follow=True)

    assert response.redirect_chain == [(f"{INDEX}?date_from=soon", 302)]
    assert response.status_code == 400
    body = response.content.decode()
    assert "The history could not be exported: fix the filters below." in body
    assert "Enter the start date as YYYY-MM-DD." in body


def test_csv_export_for_a_new_viewer_is_just_the_header(alice_client):
    assert csv_text(alice_client.get(CSV)) == "Date (UTC),Type,Description,Coins,Balance after,Value (USD)\r\n"


# --- Spending controls page ---------------------------------------------------------------------


def test_controls_page_shows_limits_spending_and_money_values(alice_client, alice):
    credit(alice, 5_000)
    spending_limits_set(user=alice, daily_limit=1_000, monthly_limit=10_000)
    debit(alice, 200)

    response = alice_client.get(CONTROLS)

    assert response.status_code == 200
    text = page_text(response)
    assert "Spent today 200 coins ($2.83)" in text
    assert "Spent this month 200 coins ($2.83)" in text
    assert "Daily budget 1,000 coins ($14.14) Left today: 800 coins ($11.31)" in text
    assert "Monthly budget 10,000 coins ($141.43) Left this month: 9,800 coins ($138.60)" in text
    assert 'name="daily_limit" value="1000"' in response.content.decode()
    assert f'href="{CONTROLS}" aria-current="page">Controls</a>' in response.content.decode()


def test_controls_page_without_limits_says_no_limit(alice_client):
    text = page_text(alice_client.get(CONTROLS))

    assert "Daily budget No limit" in text
    assert "Monthly budget No limit" in text


def test_setting_budgets_applies_a_lower_one_at_once(alice_client, alice):
    response = alice_client.post(CONTROLS, {"action": "limits", "daily_limit": "300", "monthly_limit": ""}, follow=True)

    assert response.redirect_chain == [(CONTROLS, 302)]
    assert "Your budgets were saved." in page_text(response)
    controls = SpendingControls.objects.get(user=alice)
    assert (controls.daily_limit, controls.monthly_limit, controls.daily_limit_next_at) == (300, None, None)


def test_raising_a_budget_shows_when_it_takes_effect_and_can_be_cancelled(alice_client, alice):
    spending_limits_set(user=alice, daily_limit=100, monthly_limit=None)

    response = alice_client.post(CONTROLS, {"action": "limits", "daily_limit": "", "monthly_limit": ""}, follow=True)

    controls = SpendingControls.objects.get(user=alice)
    assert controls.daily_limit == 100
    effective_at = controls.daily_limit_next_at
    text = page_text(response)
    when = shown_moment(effective_at)
    assert f"Your daily budget changes to no limit on {when}: raising or removing a budget" in text
    assert f"Daily budget changes to no limit on {when}." in text

    alice_client.post(CONTROLS, {"action": "cancel-raises"})

    controls.refresh_from_db()
    assert (controls.daily_limit, controls.daily_limit_next, controls.daily_limit_next_at) == (100, None, None)


@pytest.mark.parametrize(
    ("daily", "message"),
    [
        ("abc", "Enter a whole number of coins, or leave it blank for no limit."),
        ("0", "Enter at least 1 coin, or leave it blank for no limit."),
        ("-3", "Enter at least 1 coin, or leave it blank for no limit."),
        ("2.5", "Enter a whole number of coins, or leave it blank for no limit."),
        ("99999999999999999999", "Ensure this value is less than or equal to"),
        ("900", "Your daily budget cannot be higher than your monthly budget."),
    ],
)
def test_bad_budgets_are_refused_with_a_message_and_change_nothing(alice_client, alice, daily, message):
    spending_limits_set(user=alice, daily_limit=50, monthly_limit=500)

    response = alice_client.post(CONTROLS, {"action": "limits", "daily_limit": daily, "monthly_limit": "500"})

    assert response.status_code == 400
    assert message in response.content.decode()
    controls = SpendingControls.objects.get(user=alice)
    assert (controls.daily_limit, controls.monthly_limit, controls.daily_limit_next_at) == (50, 500, None)


def test_unknown_action_changes_nothing(alice_client, alice):
    response = alice_client.post(CONTROLS, {"action": "lift-pause"})

    assert response.status_code == 400
    assert "That action is not available. Nothing was changed." in response.content.decode()
    assert not SpendingControls.objects.filter(user=alice).exists()


def test_pause_needs_confirmation_then_shows_paused_until(alice_client, alice):
    confirm_page = alice_client.get(CONTROLS, {"pause": "7d"})

    assert confirm_page.status_code == 200
    assert "Pause for 7 days?" in confirm_page.content.decode()
    assert "I understand this cannot be undone." in confirm_page.content.decode()
    assert not SpendingControls.objects.filter(user=alice).exists()

    unconfirmed = alice_client.post(CONTROLS, {"action": "pause", "period": "7d"})

    assert unconfirmed.status_code == 400
    assert "Tick the box to confirm: the pause cannot be undone." in unconfirmed.content.decode()
    assert not SpendingControls.objects.filter(user=alice).exists()

    before = timezone.now()
    confirmed = alice_client.post(CONTROLS, {"action": "pause", "period": "7d", "confirm": "on"}, follow=True)

    until = SpendingControls.objects.get(user=alice).excluded_until
    assert before + datetime.timedelta(days=7) <= until <= timezone.now() + datetime.timedelta(days=7)
    text = page_text(confirmed)
    assert f"Gifting and buying coins are paused until {shown_moment(until)}." in text
    assert f"Paused until {shown_moment(until)}" in text
    assert "You paused recharging and gifting until" in page_text(alice_client.get(reverse("wallet:recharge")))


def test_a_shorter_pause_never_shortens_the_current_one(alice_client, alice):
    alice_client.post(CONTROLS, {"action": "pause", "period": "30d", "confirm": "on"})
    until = SpendingControls.objects.get(user=alice).excluded_until

    confirm_page = alice_client.get(CONTROLS, {"pause": "24h"})
    alice_client.post(CONTROLS, {"action": "pause", "period": "24h", "confirm": "on"})

    assert "which is later. Confirming changes nothing." in confirm_page.content.decode()
    assert SpendingControls.objects.get(user=alice).excluded_until == until


@pytest.mark.parametrize("period", ["1y", "", "forever"])
def test_bad_pause_periods_are_refused_and_change_nothing(alice_client, alice, period):
    page = alice_client.get(CONTROLS, {"pause": period})
    post = alice_client.post(CONTROLS, {"action": "pause", "period": period, "confirm": "on"})

    assert page.status_code == post.status_code == 400
    assert "Choose a pause of 24 hours, 7 days or 30 days." in post.content.decode()
    assert not SpendingControls.objects.filter(user=alice).exists()


def test_overview_shows_the_pause_and_what_is_left_to_spend(alice_client, alice):
    credit(alice, 1_000)
    spending_limits_set(user=alice, daily_limit=100, monthly_limit=None)
    debit(alice, 30)

    left = page_text(alice_client.get(INDEX))
    alice_client.post(CONTROLS, {"action": "pause", "period": "24h", "confirm": "on"})
    paused = page_text(alice_client.get(INDEX))

    assert "Left to spend 70 coins ($0.99)" in left
    assert "Paused Paused until" in paused


def test_money_values_use_decimal_rounding_half_up():
    valuation = Valuation()

    assert valuation.coins(50, "USD") == Money(Decimal("0.71"), "USD")  # 0.70715
    assert valuation.coins(-50, "USD") == Money(Decimal("-0.71"), "USD")


WALLET_QUERY_BUDGET = 12


def test_the_wallet_page_stays_within_its_query_budget(alice_client, alice, charlie, django_assert_max_num_queries):
    """A viewer with a long history: recharges in two currencies, a failed one, many gifts, a
    correction, budgets with a pending raise; the second page of the gifts."""
    for number in range(8):
        topup(alice, coins=700, price="9.99")
    topup(alice, coins=350, price="4.49", currency="GBP")
    topup(alice, coins=70, price="0.99", status=TopUpStatus.FAILED)
    for number in range(60):
        debit(alice, 7 + number, memo=f"{number % 3 + 1} x Rose")
    credit(alice, 25, kind="adjustment", memo="Goodwill")
    spending_limits_set(user=alice, daily_limit=5_000, monthly_limit=20_000)
    spending_limits_set(user=alice, daily_limit=9_000, monthly_limit=20_000)  # a raise, pending for 24 hours
    alice_client.get(INDEX)  # the session and user rows are warm, as for a returning viewer

    with django_assert_max_num_queries(WALLET_QUERY_BUDGET):
        response = alice_client.get(INDEX, {"type": "gift", "page": 2})

    assert response.status_code == 200
    rows = history_rows(response)
    assert len(rows) == 25  # gifts 26 to 50, newest first
    assert all(" Gift " in f" {row} " for row in rows)
    assert "Left to spend" in page_text(response)
