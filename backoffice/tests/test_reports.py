"""The staff report: per-day figures for known data, liabilities from the ledger, who may open it."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from backoffice.reports import liabilities, report_days
from backoffice.tests.support import admin_login, make_payout, make_staff, make_topup
from gifting.models import Gift, LiveStream
from gifting.tests.support import make_gift_event
from payouts.earnings import earnings_rollup
from payouts.models import PayoutStatus
from wallet.ledger import account_for_user, ledger_move, system_account, user_balance
from wallet.models import Asset, LedgerAuditRun, SystemAccount

REPORTS = reverse("admin:reports")


@pytest.fixture
def today():
    return timezone.now().astimezone(datetime.UTC).date()


def at(day: datetime.date, hour: int) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=datetime.UTC)


@pytest.fixture
def economy(alice, bob, today):
    """Yesterday and today: top-ups in two currencies, gifts (some rolled up, some not), one paid payout."""
    yesterday = today - datetime.timedelta(days=1)
    make_topup(alice, coins=700, amount=Money("9.99", "USD"), completed_at=at(today, 1))
    make_topup(alice, coins=350, bonus_coins=10, amount=Money("4.99", "USD"), completed_at=at(today, 2))
    make_topup(alice, coins=1_000, amount=Money("1500", "JPY"), completed_at=at(today, 3))
    make_topup(alice, coins=70, amount=Money("0.99", "USD"), completed_at=at(yesterday, 23))
    make_topup(alice, coins=7_000, amount=Money("99.99", "USD"), status="failed")
    too_old = at(today - datetime.timedelta(days=30), 12)
    make_topup(alice, coins=9_999, amount=Money("1.00", "USD"), completed_at=too_old)
    gift = Gift.objects.create(name="Report Rose", slug="report-rose", coin_cost=10, artwork="gifts/rose.svg")
    stream = LiveStream.objects.create(creator=bob, title="Report night")
    make_gift_event(sender=alice, creator=bob, stream=stream, gift=gift, quantity=3, at=at(yesterday, 20))
    make_gift_event(sender=alice, creator=bob, stream=stream, gift=gift, quantity=1, at=at(today, 4))
    earnings_rollup(now=timezone.now() + datetime.timedelta(hours=1))  # both folded into the roll-up
    make_gift_event(sender=alice, creator=bob, stream=stream, gift=gift, quantity=5, at=at(today, 5))  # unrolled
    make_payout(bob, status=PayoutStatus.PAID, diamonds=10, net=Money("0.04", "USD"), finished_at=at(today, 6))
    make_payout(bob, status=PayoutStatus.PAID, diamonds=20, net=Money("0.08", "EUR"), finished_at=at(today, 7))
    make_payout(bob, status=PayoutStatus.FAILED, diamonds=50, net=Money("0.20", "USD"), finished_at=at(today, 8))
    return yesterday


@pytest.mark.django_db
def test_per_day_figures_for_known_data(economy, today):
    days = {row.day: row for row in report_days(today=today)}

    assert len(days) == 30 and min(days) == today - datetime.timedelta(days=29)
    now, yesterday = days[today], days[economy]
    assert now.topups == 3
    assert now.coins_sold == {"JPY": 1_000, "USD": 1_060}
    assert now.money_received == [Money("1500", "JPY"), Money("14.98", "USD")]
    assert (now.gifts, now.gift_coins, now.diamonds_earned) == (2, 60, 60)
    assert (now.payouts, now.payout_diamonds) == (2, 30)
    assert now.paid_out == [Money("0.08", "EUR"), Money("0.04", "USD")]
    assert (yesterday.topups, yesterday.coins_sold, yesterday.money_received) == (
        1,
        {"USD": 70},
        [Money("0.99", "USD")],
    )
    assert (yesterday.gifts, yesterday.gift_coins, yesterday.diamonds_earned) == (1, 30, 30)
    assert (yesterday.payouts, yesterday.paid_out) == (0, [])
    assert all(row.topups == 0 and row.gifts == 0 for day, row in days.items() if day not in (today, economy))


@pytest.mark.django_db
def test_liabilities_are_the_wallet_balances_plus_payout_clearing(economy, alice, bob):
    clearing = system_account(SystemAccount.DIAMONDS_CLEARING)
    ledger_move(
        source=account_for_user(bob, Asset.DIAMOND),
        destination=clearing,
        asset=Asset.DIAMOND,
        amount=25,
        idempotency_key="test-clearing",
        kind="payout",
    )

    owed = liabilities()

    coins = 700 + 360 + 1_000 + 70 + 9_999 - 90
    assert owed.coins_outstanding == coins == user_balance(alice, Asset.COIN)
    assert (owed.creator_diamonds, owed.diamonds_in_payout, owed.diamonds_outstanding) == (65, 25, 90)
    assert owed.diamonds_value == Money("0.45", "USD")


@pytest.mark.django_db
def test_the_report_page_shows_the_figures_and_the_last_audit(client, economy, today):
    LedgerAuditRun.objects.create(
        run_date=today - datetime.timedelta(days=1), is_clean=True, finished_at=timezone.now()
    )
    LedgerAuditRun.objects.create(run_date=today, is_clean=False, problem_count=2, finished_at=timezone.now())
    admin_login(client, make_staff(email="fiona.finance@example.com", group="finance"))

    response = client.get(REPORTS)
    index = client.get(reverse("admin:index"))

    html = response.content.decode()
    row = html[html.index(f'id="day-{today:%Y-%m-%d}"') :]
    row = row[: row.index("</tr>")]
    assert response.status_code == 200
    assert "¥1,500" in row and "$14.98" in row and "1,060 (USD)" in row and "€0.08" in row
    assert "FAILED with 2 problems" in html
    assert REPORTS in index.content.decode()
    assert re.search(
        r"Coins outstanding \(viewer wallets\)</th><td>[\d,]+ coins "
        r"\(\$[\d,]+\.\d\d\) at the USD base price",
        html,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("group", "status"), [("finance", 200), ("support", 200), ("catalogue", 403), (None, 403)])
def test_only_finance_support_and_superusers_open_the_report(client, group, status):
    admin_login(client, make_staff(email="staff@example.com", group=group))

    response = client.get(REPORTS)
    index = client.get(reverse("admin:index"))

    assert response.status_code == status
    assert (REPORTS in index.content.decode()) == (status == 200)


@pytest.mark.django_db
def test_superusers_open_the_report_and_unverified_staff_are_sent_to_log_in(client):
    root = make_staff(email="root@example.com", is_superuser=True)
    client.force_login(root)  # no 2FA step in this session

    assert client.get(REPORTS).status_code == 302
    assert admin_login(client, root).get(REPORTS).status_code == 200


REPORTS_QUERY_BUDGET = 20


@pytest.mark.django_db
def test_the_report_stays_within_its_query_budget(client, alice, bob, today, django_assert_max_num_queries):
    """Thirty days of a working economy: top-ups in four currencies every day, gifts every day (rolled
    up, plus an unrolled tail), payouts paid in three currencies, audits; the budget holds."""
    gift = Gift.objects.create(name="Budget Rose", slug="budget-rose", coin_cost=10, artwork="gifts/rose.svg")
    stream = LiveStream.objects.create(creator=bob, title="Budget night")
    currencies = [Money("9.99", "USD"), Money("8.99", "GBP"), Money("1500", "JPY"), Money("10.99", "EUR")]
    for offset in range(30):
        day = today - datetime.timedelta(days=offset)
        for hour, amount in enumerate(currencies, start=1):
            make_topup(alice, coins=700, amount=amount, completed_at=at(day, hour))
        make_gift_event(sender=alice, creator=bob, stream=stream, gift=gift, quantity=offset % 5 + 1, at=at(day, 9))
        make_payout(
            bob, status=PayoutStatus.PAID, diamonds=10, net=currencies[offset % 3] / 100, finished_at=at(day, 10)
        )
        LedgerAuditRun.objects.create(run_date=day, is_clean=True, finished_at=at(day, 11))
    earnings_rollup(now=timezone.now() + datetime.timedelta(hours=1))
    make_gift_event(sender=alice, creator=bob, stream=stream, gift=gift, quantity=2, at=at(today, 12))  # unrolled
    admin_login(client, make_staff(email="fiona.finance@example.com", group="finance"))
    client.get(REPORTS)  # the session, user and permission rows are warm, as for a returning staff member

    with django_assert_max_num_queries(REPORTS_QUERY_BUDGET):
        response = client.get(REPORTS)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('id="day-') == 30
    row = html[html.index(f'id="day-{today:%Y-%m-%d}"') :]
    row = row[: row.index("</tr>")]
    assert "¥1,500" in row and "$9.99" in row and "£8.99" in row and "€10.99" in row
