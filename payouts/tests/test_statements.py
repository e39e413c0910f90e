"""Monthly statements: contents line by line, CSV, sending once in batches, and the download pages."""

import csv
import datetime
import io
import re
import uuid
from decimal import Decimal

import pytest
from babel.dates import format_date
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from coinsite.accounts.tests.factories import make_user
from coinsite.lib.dates import current_month, month_start, next_month, previous_month
from gifting.services import gift_send, stream_end, stream_start
from gifting.tests.support import ensure_countries, fund, make_gift, make_gift_event
from payouts import emails, tasks
from payouts.earnings import earnings_rollup_all
from payouts.models import (
    Payout,
    PayoutMethod,
    PayoutStatus,
    StatementDelivery,
    StatementRun,
    SupporterMonthRollup,
)
from payouts.statements.exports import statement_csv
from payouts.statements.selectors import creator_statement, viewer_statement
from payouts.statements.services import StatementError, statements_send_month
from wallet.ledger import account_for_user, ledger_post, ledger_rollup_pending, system_account
from wallet.models import Asset, LedgerDayTotal, SystemAccount, TopUp, TopUpStatus
from wallet.money import format_money
from wallet.selectors import economy
from wallet.tests.support import analyze, rows_read
from wallet.valuation import Valuation

pytestmark = pytest.mark.django_db


def coin_value(coins: int, currency: str) -> Money | None:
    return Valuation().coins(coins, currency)


THIS_MONTH = current_month()
LAST_MONTH = previous_month(THIS_MONTH)
AFTER_THIS_MONTH = month_start(next_month(THIS_MONTH)) + datetime.timedelta(hours=6)


def mid(month: datetime.date, day: int = 10) -> datetime.datetime:
    return datetime.datetime(month.year, month.month, day, 12, tzinfo=datetime.UTC)


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def gbp(amount: str) -> Money:
    """Bob is paid in pounds, so his statement shows every value in pounds (at the stored 0.7862 a dollar)."""
    return Money(Decimal(amount), "GBP")


# --- Data as the real flows leave it --------------------------------------------------------------


def recharge(user, *, coins: int, amount: Money, at: datetime.datetime) -> TopUp:
    """A succeeded top-up with its ledger credit, both dated `at`."""
    transaction = ledger_post(
        idempotency_key=f"topup:{uuid.uuid4()}",
        kind="topup",
        posted_at=at,
        lines=[
            (system_account(SystemAccount.COINS_ISSUED), Asset.COIN, -coins),
            (account_for_user(user, Asset.COIN), Asset.COIN, coins),
        ],
    )
    return TopUp.objects.create(
        user=user,
        coins=coins,
        amount=amount,
        country=user.country,
        payment_method="card",
        provider="sandbox",
        status=TopUpStatus.SUCCEEDED,
        ledger_transaction=transaction,
        created_at=at,
        completed_at=at,
        expires_at=at + datetime.timedelta(hours=1),
    )


def credit_diamonds(creator, diamonds: int, *, at: datetime.datetime, kind: str = "adjustment") -> None:
    ledger_post(
        idempotency_key=f"test:{uuid.uuid4()}",
        kind=kind,
        posted_at=at,
        lines=[
            (system_account(SystemAccount.DIAMONDS_ISSUED), Asset.DIAMOND, -diamonds),
            (account_for_user(creator, Asset.DIAMOND), Asset.DIAMOND, diamonds),
        ],
    )


def paid_payout(
    creator, *, diamonds: int, at: datetime.datetime, rate: str, gross: Money, fee: Money, net: Money
) -> Payout:
    """A payout requested and paid at `at`: diamonds to clearing and on to redeemed, as the services post them."""
    method = PayoutMethod.objects.create(
        creator=creator,
        kind="paypal",
        holder_name="Bob",
        currency=gross.currency.code,
        paypal_email="bob.payouts@example.com",
    )
    payout = Payout.objects.create(
        creator=creator,
        method=method,
        diamonds=diamonds,
        status=PayoutStatus.PAID,
        idempotency_key=str(uuid.uuid4()),
        value=usd("0.005") * diamonds,
        diamond_value=usd("0.005"),
        currency=gross.currency.code,
        exchange_rate=Decimal(rate),
        gross=gross,
        fee=fee,
        net=net,
        provider="sandbox",
        requested_at=at,
        processed_at=at,
        finished_at=at,
    )
    clearing = system_account(SystemAccount.DIAMONDS_CLEARING)
    ledger_post(
        idempotency_key=f"payout:{payout.pk}:request",
        kind="payout.request",
        posted_at=at,
        lines=[
            (account_for_user(creator, Asset.DIAMOND), Asset.DIAMOND, -diamonds),
            (clearing, Asset.DIAMOND, diamonds),
        ],
    )
    ledger_post(
        idempotency_key=f"payout:{payout.pk}:paid",
        kind="payout.paid",
        posted_at=at,
        lines=[
            (clearing, Asset.DIAMOND, -diamonds),
            (system_account(SystemAccount.DIAMONDS_REDEEMED), Asset.DIAMOND, diamonds),
        ],
    )
    return payout


def send(sender, stream, gift, quantity=1, *, anonymous=False):
    return gift_send(
        sender=sender,
        stream_id=stream.pk,
        gift_id=gift.pk,
        quantity=quantity,
        idempotency_key=str(uuid.uuid4()),
        anonymous=anonymous,
    )


@pytest.fixture
def economics(db):
    settings_row = economy()
    settings_row.diamond_value = usd("0.005")
    settings_row.save()


@pytest.fixture
def carol(db):
    return make_user(email="carol@example.com", display_name="Carol")


@pytest.fixture
def live(bob, economics):
    ensure_countries()
    return stream_start(creator=bob, title="Friday night sketching")


@pytest.fixture
def rose(db):
    return make_gift(slug="statement-rose", coin_cost=100, name="Rose")


@pytest.fixture
def month_of_activity(alice, bob, carol, live, rose):
    """Last month: Alice recharged 700 coins, Bob held 5,000 diamonds. This month: Alice recharges 350
    more, sends 2 Roses and 1 anonymous Rose; Carol sends 3 Roses anonymously; Bob is paid 4,000
    diamonds out in GBP."""
    recharge(alice, coins=700, amount=usd("9.99"), at=mid(LAST_MONTH))
    credit_diamonds(bob, 5_000, at=mid(LAST_MONTH))
    recharge(alice, coins=350, amount=usd("4.99"), at=timezone.now())
    fund(carol, 300)
    send(alice, live, rose, 2)
    send(alice, live, rose, 1, anonymous=True)
    send(carol, live, rose, 3, anonymous=True)
    paid_payout(
        bob,
        diamonds=4_000,
        at=timezone.now(),
        rate="0.79",
        gross=Money("15.80", "GBP"),
        fee=Money("0.32", "GBP"),
        net=Money("15.48", "GBP"),
    )


# --- Contents -------------------------------------------------------------------------------------


def test_creator_statement_is_the_full_waterfall(bob, month_of_activity, live):
    statement = creator_statement(bob, THIS_MONTH)

    assert statement.diamonds_start == 5_000
    assert statement.currency == "GBP"
    assert statement.diamonds_start_value == gbp("19.66")  # $25.00
    assert [
        (line.day, line.stream_title, line.gifts, line.coins, line.diamonds, line.value) for line in statement.gift_days
    ] == [(timezone.now().date(), "Friday night sketching", 3, 600, 600, gbp("2.36"))]
    assert (statement.gifts, statement.coins_received, statement.diamonds_earned) == (3, 600, 600)
    assert statement.coins_received_value == coin_value(600, "GBP")
    assert statement.diamonds_earned_value == gbp("2.36")
    assert (statement.diamonds_requested, statement.diamonds_returned, statement.diamonds_other) == (4_000, 0, 0)
    assert statement.diamonds_end == 5_000 + 600 - 4_000
    assert statement.diamonds_end_value == gbp("6.29")
    [line] = statement.payouts
    assert line.is_paid_this_month
    assert (line.payout.diamonds, line.payout.value, line.value) == (4_000, usd("20.00"), gbp("15.72"))
    assert line.payout.exchange_rate == Decimal("0.79")
    assert statement.paid_diamonds == 4_000
    assert statement.paid_value == [gbp("15.72")]
    assert statement.paid_gross == [Money("15.80", "GBP")]
    assert statement.paid_fees == [Money("0.32", "GBP")]
    assert statement.paid_net == [Money("15.48", "GBP")]


def test_anonymous_senders_stay_anonymous_to_the_creator(bob, month_of_activity):
    statement = creator_statement(bob, THIS_MONTH)

    assert [(line.name, line.is_anonymous, line.gifts, line.coins, line.value) for line in statement.supporters] == [
        ("Alice", False, 1, 200, gbp("0.79")),
        ("Anonymous supporters", True, 2, 400, gbp("1.57")),  # Alice's anonymous Rose and Carol's three
    ]
    text = statement_csv(statement)
    assert "Carol" not in text
    assert text.count("Alice") == 1


def test_viewer_statement_lists_recharges_gifts_and_coins_left(alice, month_of_activity):
    statement = viewer_statement(alice, THIS_MONTH)

    assert statement.currency == "USD"
    assert statement.coins_start == 700
    assert statement.coins_start_value == coin_value(700, "USD")
    assert [(line.topup.total_coins, line.topup.amount) for line in statement.recharges] == [(350, usd("4.99"))]
    assert (statement.recharged_coins, statement.recharged_money) == (350, [usd("4.99")])
    assert [
        (
            line.event.quantity,
            line.event.gift.name,
            line.event.creator.display_name,
            line.event.coins,
            line.event.is_anonymous,
            line.value,
        )
        for line in statement.gifts
    ] == [
        (2, "Rose", "Bob", 200, False, coin_value(200, "USD")),
        (1, "Rose", "Bob", 100, True, coin_value(100, "USD")),  # anonymous to others, still hers
    ]
    assert (statement.gifts_coins, statement.gifts_value) == (300, coin_value(300, "USD"))
    assert statement.coins_other == 0
    assert statement.coins_end == 700 + 350 - 300


def test_last_month_holds_only_what_happened_then(alice, bob, month_of_activity):
    viewer = viewer_statement(alice, LAST_MONTH)
    creator = creator_statement(bob, LAST_MONTH)

    assert (viewer.coins_start, viewer.recharged_coins, viewer.gifts_coins, viewer.coins_end) == (0, 700, 0, 700)
    assert [line.topup.amount for line in viewer.recharges] == [usd("9.99")]
    assert (creator.diamonds_start, creator.diamonds_earned, creator.diamonds_other, creator.diamonds_end) == (
        0,
        0,
        5_000,
        5_000,
    )
    assert creator.payouts == [] and creator.paid_net == []


def test_recharges_in_two_currencies_are_totalled_per_currency(alice, economics):
    recharge(alice, coins=700, amount=usd("9.99"), at=timezone.now())
    recharge(alice, coins=700, amount=Money("9.49", "EUR"), at=timezone.now())

    statement = viewer_statement(alice, THIS_MONTH)

    assert statement.recharged_money == [Money("9.49", "EUR"), usd("9.99")]
    assert statement.recharged_coins == 1_400


def test_failed_payout_shows_its_diamonds_returned_and_nothing_paid(bob, economics):
    credit_diamonds(bob, 20_000, at=mid(LAST_MONTH))
    method = PayoutMethod.objects.create(
        creator=bob, kind="paypal", holder_name="Bob", currency="USD", paypal_email="bob@example.com"
    )
    payout = Payout.objects.create(
        creator=bob,
        method=method,
        diamonds=10_000,
        status=PayoutStatus.FAILED,
        idempotency_key="k",
        value=usd("50.00"),
        diamond_value=usd("0.005"),
        currency="USD",
        finished_at=timezone.now(),
    )
    clearing, wallet = system_account(SystemAccount.DIAMONDS_CLEARING), account_for_user(bob, Asset.DIAMOND)
    ledger_post(
        idempotency_key=f"payout:{payout.pk}:request",
        kind="payout.request",
        lines=[(wallet, Asset.DIAMOND, -10_000), (clearing, Asset.DIAMOND, 10_000)],
    )
    ledger_post(
        idempotency_key=f"payout:{payout.pk}:return",
        kind="payout.return",
        lines=[(clearing, Asset.DIAMOND, -10_000), (wallet, Asset.DIAMOND, 10_000)],
    )

    statement = creator_statement(bob, THIS_MONTH)

    assert (statement.diamonds_requested, statement.diamonds_returned, statement.diamonds_end) == (
        10_000,
        10_000,
        20_000,
    )
    assert [line.is_paid_this_month for line in statement.payouts] == [False]
    assert (statement.paid_diamonds, statement.paid_net) == (0, [])


def test_statement_csv_has_one_line_per_item_plus_totals(alice, month_of_activity):
    rows = list(csv.reader(io.StringIO(statement_csv(viewer_statement(alice, THIS_MONTH)))))
    value = coin_value

    assert rows[0] == ["section", "date", "description", "count", "coins", "diamonds", "amount", "currency"]
    today = timezone.now().date().isoformat()
    last_day = (next_month(THIS_MONTH) - datetime.timedelta(days=1)).isoformat()
    body = [row for row in rows[1:] if row[0] != "recharge"]
    [topup_row] = [row for row in rows if row[0] == "recharge"]
    assert topup_row[1:2] + topup_row[3:] == [today, "1", "350", "", "4.99", "USD"]
    assert body == [
        [
            "balance",
            THIS_MONTH.isoformat(),
            "Coins at the start of the month",
            "",
            "700",
            "",
            str(value(700, "USD").amount),
            "USD",
        ],
        ["gift", today, "2 x Rose to Bob", "2", "200", "", str(value(200, "USD").amount), "USD"],
        ["gift", today, "1 x Rose to Bob (sent anonymously)", "1", "100", "", str(value(100, "USD").amount), "USD"],
        ["total", last_day, "Recharges", "1", "350", "", str(value(350, "USD").amount), "USD"],
        ["total", last_day, "Recharges: paid", "1", "", "", "4.99", "USD"],
        ["total", last_day, "Gifts sent", "2", "300", "", str(value(300, "USD").amount), "USD"],
        ["balance", last_day, "Coins at the end of the month", "", "750", "", str(value(750, "USD").amount), "USD"],
    ]


def test_creator_csv_carries_payout_fees_and_exchange(bob, month_of_activity):
    rows = list(csv.reader(io.StringIO(statement_csv(creator_statement(bob, THIS_MONTH)))))
    by_section = {}
    for row in rows[1:]:
        by_section.setdefault(row[0], []).append(row)

    assert [row[2:] for row in by_section["gifts"]] == [["Friday night sketching", "3", "600", "600", "2.36", "GBP"]]
    assert [row[3:] for row in by_section["payout"]] == [["1", "", "4000", "15.72", "GBP"]]
    assert by_section["payout-gross"][0][2].endswith("at 0.79 USD→GBP")
    assert by_section["payout-gross"][0][6:] == ["15.80", "GBP"]
    assert by_section["payout-fee"][0][6:] == ["0.32", "GBP"]
    assert by_section["payout-net"][0][6:] == ["15.48", "GBP"]
    assert [row[2:] for row in by_section["balance"]] == [
        ["Diamonds at the start of the month", "", "", "5000", "19.66", "GBP"],
        ["Diamonds at the end of the month", "", "", "1600", "6.29", "GBP"],
    ]


def test_csv_cells_that_look_like_formulas_are_defused(bob, alice, economics, rose):
    ensure_countries()
    stream = stream_start(creator=bob, title='=HYPERLINK("http://evil")')
    fund(alice, 100)
    send(alice, stream, rose)

    text = statement_csv(creator_statement(bob, THIS_MONTH))

    assert "'=HYPERLINK" in text
    assert ",=HYPERLINK" not in text


# --- Read from the roll-ups -----------------------------------------------------------------------


def statements_read(alice, bob, carol) -> list:
    """Every figure the roll-ups feed, in both months' statements of the creator and the two viewers."""
    figures: list[tuple] = []
    for month in (LAST_MONTH, THIS_MONTH):
        creator = creator_statement(bob, month)
        figures.append(
            (
                creator.diamonds_start,
                creator.diamonds_end,
                creator.gift_days,
                creator.supporters,
                creator.diamonds_requested,
                creator.diamonds_returned,
                creator.diamonds_other,
            )
        )
        viewers = (viewer_statement(user, month) for user in (alice, carol))
        figures += [(viewer.coins_start, viewer.coins_end) for viewer in viewers]
    return figures


@pytest.fixture
def two_months_of_gifts(alice, bob, carol, live, rose, month_of_activity):
    """Last month too: Alice sends 2 Roses on the 10th and Carol 1 anonymously on the 20th."""
    recharge(carol, coins=500, amount=usd("4.99"), at=mid(LAST_MONTH, 1))
    make_gift_event(sender=alice, creator=bob, stream=live, gift=rose, quantity=2, at=mid(LAST_MONTH, 10))
    make_gift_event(sender=carol, creator=bob, stream=live, gift=rose, at=mid(LAST_MONTH, 20), anonymous=True)


def test_statements_read_the_same_before_and_after_the_roll_ups(alice, bob, carol, live, rose, two_months_of_gifts):
    before = statements_read(alice, bob, carol)  # nothing rolled up yet: every gift and entry is read as the tail
    last_month = creator_statement(bob, LAST_MONTH)
    assert [(line.day.day, line.gifts, line.coins) for line in last_month.gift_days] == [(10, 1, 200), (20, 1, 100)]
    assert [(line.name, line.gifts, line.coins) for line in last_month.supporters] == [
        ("Alice", 1, 200),
        ("Anonymous supporters", 1, 100),
    ]
    assert (last_month.diamonds_start, last_month.diamonds_end) == (0, 5_000 + 300)

    earnings_rollup_all(now=timezone.now() + datetime.timedelta(hours=1))
    ledger_rollup_pending()
    # Last month Alice and Carol (anonymous); this month Alice, Alice anonymous and Carol (anonymous)
    assert SupporterMonthRollup.objects.filter(creator=bob).count() == 2 + 3
    assert LedgerDayTotal.objects.filter(account__user=bob).exists()
    after = statements_read(alice, bob, carol)
    assert after == before
    amounts = [figure for month in after[::3] for figure in (*month[:2], *month[4:])]
    assert {type(amount) for amount in amounts} == {int}  # never Decimal, as SQL sums come

    send(alice, live, rose, 2)  # after the roll-ups: read as the tail, added to the rolled-up rows
    this_month = creator_statement(bob, THIS_MONTH)
    assert [(line.gifts, line.coins) for line in this_month.gift_days] == [(4, 800)]
    assert [(line.name, line.gifts, line.coins) for line in this_month.supporters] == [
        ("Alice", 2, 400),
        ("Anonymous supporters", 2, 400),
    ]
    assert this_month.diamonds_end == 5_300 + 800 - 4_000
    assert viewer_statement(alice, THIS_MONTH).coins_end == 700 - 200 + 350 - 500


# A month of gifts from Alice to Bob, one a minute from the 2nd of last month, written straight into the events.
_LAST_MONTH_EVENTS_SQL = """
INSERT INTO gifting_giftevent (stream_id, sender_id, creator_id, gift_id, quantity, coins, diamonds, is_anonymous,
                               message, idempotency_key, ledger_transaction_id, created_at)
SELECT %(stream)s, %(sender)s, %(creator)s, %(gift)s, 1, 100, 100, n %% 2 = 0, '', 'bulk:' || n, 1000000000 + n,
       %(start)s + n * interval '1 minute'
  FROM generate_series(1, %(gifts)s) AS n
"""


def test_a_busy_creators_statement_reads_the_roll_ups_not_every_gift(alice, bob, live, rose, month_of_activity):
    """Measured with `make bench`'s dashboard data (a creator with a million gifts over 120 days), before the
    roll-ups: the statement took 2.6 s for this month and 5.4 s for the last (8 queries); now about 40 and 20 ms."""
    with connection.cursor() as cursor:
        cursor.execute(
            _LAST_MONTH_EVENTS_SQL,
            {
                "stream": live.pk,
                "sender": alice.pk,
                "creator": bob.pk,
                "gift": rose.pk,
                "start": month_start(LAST_MONTH) + datetime.timedelta(days=1),
                "gifts": 10_000,
            },
        )
    earnings_rollup_all(now=timezone.now() + datetime.timedelta(hours=1))
    analyze("gifting_giftevent")
    send(alice, live, rose, 1)  # the tail after the roll-up

    before = rows_read("gifting_giftevent")
    last_month, this_month = creator_statement(bob, LAST_MONTH), creator_statement(bob, THIS_MONTH)
    read = rows_read("gifting_giftevent") - before

    assert (last_month.gifts, last_month.coins_received) == (10_000, 1_000_000)
    assert [(line.name, line.gifts) for line in last_month.supporters] == [
        ("Alice", 5_000),
        ("Anonymous supporters", 5_000),
    ]
    assert this_month.gifts == 3 + 1
    # The one gift after the roll-up, read for the days and the supporters of each month, and for each read the
    # planner's look at the newest id in the primary key (its `known` bound lies past the statistics' histogram).
    assert read <= 8


# --- Sending --------------------------------------------------------------------------------------


def test_each_user_gets_one_email_with_the_csv_attached(alice, bob, carol, month_of_activity):
    result = statements_send_month(month=THIS_MONTH, now=AFTER_THIS_MONTH)

    assert result == "finished"
    assert sorted(message.to[0] for message in mail.outbox) == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ]
    by_user = {message.to[0]: message for message in mail.outbox}
    bob_email = by_user["bob@example.com"]
    assert bob_email.subject == f"Your Coinsite statement for {THIS_MONTH:%B %Y}"
    assert "Diamonds earned:          +600 (£2.36)" in bob_email.body
    assert "Net paid out this month:  £15.48" in bob_email.body
    [(html, mimetype)] = bob_email.alternatives
    assert mimetype == "text/html" and "£15.48" in html
    [(filename, content, content_type)] = bob_email.attachments
    assert filename == f"coinsite-creator-statement-{THIS_MONTH:%Y-%m}.csv"
    assert content_type == "text/csv"
    assert content == statement_csv(creator_statement(bob, THIS_MONTH))
    assert "Carol" not in bob_email.body + html + content
    alice_email = by_user["alice@example.com"]
    assert alice_email.attachments[0][0] == f"coinsite-viewer-statement-{THIS_MONTH:%Y-%m}.csv"
    assert "Gifts sent:          -300 in 2 gifts" in alice_email.body
    assert {
        (email, kind, sent_at is not None)
        for email, kind, sent_at in StatementDelivery.objects.values_list("user__email", "kind", "sent_at")
    } == {
        ("alice@example.com", "viewer", True),
        ("bob@example.com", "creator", True),
        ("carol@example.com", "viewer", True),
    }
    run = StatementRun.objects.get(month=THIS_MONTH)
    assert (run.recipients_total, run.processed, run.sent) == (3, 3, 3)
    assert run.finished_at is not None


def test_rerunning_a_month_sends_nothing_twice(alice, bob, carol, month_of_activity):
    statements_send_month(month=THIS_MONTH, now=AFTER_THIS_MONTH)
    assert len(mail.outbox) == 3

    assert statements_send_month(month=THIS_MONTH, now=AFTER_THIS_MONTH) == "finished"
    # Even a run started over from the first user (say its progress was lost) sends nothing again.
    StatementRun.objects.filter(month=THIS_MONTH).update(last_user_id=0, finished_at=None, processed=0, sent=0)
    assert statements_send_month(month=THIS_MONTH, now=AFTER_THIS_MONTH) == "finished"

    assert len(mail.outbox) == 3
    assert StatementDelivery.objects.count() == 3
    run = StatementRun.objects.get(month=THIS_MONTH)
    assert (run.processed, run.sent) == (3, 0)


def test_recipients_are_processed_in_batches_with_progress_saved(economics):
    viewers = [make_user(email=f"viewer{index}@example.com") for index in range(5)]
    for viewer in viewers:
        recharge(viewer, coins=70, amount=usd("0.99"), at=mid(LAST_MONTH))
    idle = make_user(email="idle@example.com")
    account_for_user(idle, Asset.COIN)  # a wallet, but nothing ever in it: no statement
    make_user(email="never@example.com")  # no wallet at all: not even looked at

    assert statements_send_month(month=LAST_MONTH, batch_size=2, max_batches=1) == "more"
    run = StatementRun.objects.get(month=LAST_MONTH)
    assert (run.recipients_total, run.processed, run.sent, run.last_user_id) == (6, 2, 2, viewers[1].pk)
    assert len(mail.outbox) == 2

    assert statements_send_month(month=LAST_MONTH, batch_size=2, max_batches=1) == "more"
    assert statements_send_month(month=LAST_MONTH, batch_size=2) == "finished"

    run.refresh_from_db()
    assert (run.recipients_total, run.processed, run.sent, run.last_user_id) == (6, 6, 5, idle.pk)
    assert sorted(message.to[0] for message in mail.outbox) == sorted(viewer.email for viewer in viewers)
    assert not StatementDelivery.objects.filter(user=idle).exists()


def test_a_failed_send_releases_the_claim_so_a_retry_sends_it(alice, month_of_activity, monkeypatch):
    real_send = emails.statement_send

    def broken(statement):
        raise OSError("mail server down")

    monkeypatch.setattr(emails, "statement_send", broken)
    with pytest.raises(OSError):
        statements_send_month(month=THIS_MONTH, now=AFTER_THIS_MONTH)
    assert mail.outbox == []
    assert not StatementDelivery.objects.exists()
    run = StatementRun.objects.get(month=THIS_MONTH)
    assert (run.processed, run.sent, run.last_user_id, run.finished_at) == (0, 0, 0, None)

    monkeypatch.setattr(emails, "statement_send", real_send)
    assert statements_send_month(month=THIS_MONTH, now=AFTER_THIS_MONTH) == "finished"
    assert len(mail.outbox) == 3


def test_a_claim_left_by_a_dead_worker_is_taken_over_later(alice, month_of_activity):
    StatementDelivery.objects.create(user=alice, month=THIS_MONTH, kind="viewer", claimed_at=timezone.now())
    statements_send_month(month=THIS_MONTH, now=AFTER_THIS_MONTH)
    assert "alice@example.com" not in [message.to[0] for message in mail.outbox]  # someone else may be sending it

    StatementDelivery.objects.filter(user=alice).update(claimed_at=timezone.now() - datetime.timedelta(hours=1))
    StatementRun.objects.filter(month=THIS_MONTH).update(last_user_id=0, finished_at=None)
    statements_send_month(month=THIS_MONTH, now=AFTER_THIS_MONTH)

    assert [message.to[0] for message in mail.outbox].count("alice@example.com") == 1
    assert StatementDelivery.objects.get(user=alice).sent_at is not None


def test_a_month_that_has_not_ended_is_refused_and_nothing_is_written(alice, month_of_activity):
    with pytest.raises(StatementError, match="has not ended yet"):
        statements_send_month(month=THIS_MONTH)
    with pytest.raises(StatementError, match="not the first day"):
        statements_send_month(month=LAST_MONTH.replace(day=2))

    assert mail.outbox == []
    assert not StatementRun.objects.exists() and not StatementDelivery.objects.exists()


def test_the_beat_task_sends_the_month_that_just_ended(alice, economics):
    recharge(alice, coins=700, amount=usd("9.99"), at=mid(LAST_MONTH))

    assert tasks.statements_send_monthly.delay().get() == LAST_MONTH.isoformat()

    run = StatementRun.objects.get(month=LAST_MONTH)
    assert (run.processed, run.sent, run.finished_at is not None) == (1, 1, True)
    [message] = mail.outbox
    assert message.subject == f"Your Coinsite statement for {LAST_MONTH:%B %Y}"
    assert tasks.statements_send_month.delay(LAST_MONTH.isoformat()).get() == "finished"
    assert tasks.statements_sweep.delay().get() == 0
    assert len(mail.outbox) == 1


def test_statement_tasks_are_reliable():
    for task in (tasks.statements_send_monthly, tasks.statements_send_month, tasks.statements_sweep):
        assert task.acks_late and task.reject_on_worker_lost


# --- Pages ----------------------------------------------------------------------------------------


def month_url(name: str, month: datetime.date | str) -> str:
    slug = month if isinstance(month, str) else f"{month:%Y-%m}"
    return reverse(f"payouts:{name}", args=[slug])


def test_urls_are_under_creator_statements():
    assert reverse("payouts:statements") == "/creator/statements/"
    assert month_url("statement", "2026-11") == "/creator/statements/2026-11/"
    assert month_url("statement-csv", "2026-11") == "/creator/statements/2026-11.csv"


def test_the_list_offers_every_month_from_the_first_activity(client, alice, month_of_activity):
    client.force_login(alice)

    response = client.get(reverse("payouts:statements"))

    assert response.status_code == 200
    assert [month for month in response.context["months"]] == [THIS_MONTH, LAST_MONTH]
    assert month_url("statement-csv", LAST_MONTH).encode() in response.content


def test_a_viewer_sees_their_own_statement_with_money_values(client, alice, month_of_activity):
    client.force_login(alice)

    response = client.get(month_url("statement", THIS_MONTH))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Sent anonymously" in page
    assert f"\N{MINUS SIGN}300 coins ({format_money(coin_value(300, 'USD'))})" in page
    assert f"+350 coins ({format_money(coin_value(350, 'USD'))})" in page
    assert "$4.99" in page
    assert "Carol" not in page


def test_a_heavy_viewers_page_adds_the_gifts_up_and_the_csv_keeps_every_one(client, alice, bob, live, rose):
    """A viewer tapping a one-coin gift all evening sends thousands a month: the page listed every one."""
    fund(alice, 10_000)
    for number in range(40):
        send(alice, live, rose, 1 + number % 2, anonymous=number % 10 == 0)
    client.force_login(alice)

    page = client.get(month_url("statement", THIS_MONTH)).content.decode()
    csv_rows = list(csv.reader(io.StringIO(client.get(month_url("statement-csv", THIS_MONTH)).content.decode())))

    table = page.split('data-testid="statement-gifts"')[1].split("</table>")[0]
    lines = re.findall(r"<tr><td[^>]*>([^<]+)</td><td>(.+?)</td>.*?<td class=\"right\">([\d,]+) ", table)
    day = format_date(timezone.now().date(), format="medium", locale="en")
    assert [(when, re.sub(r"<[^>]+>", "", what).strip(), coins) for when, what, coins in lines] == [
        (day, "4 \N{MULTIPLICATION SIGN} Rose in 4 gifts Sent anonymously", "400"),  # the first gift was anonymous
        (day, "56 \N{MULTIPLICATION SIGN} Rose in 36 gifts", "5,600"),
    ]
    assert f"\N{MINUS SIGN}6,000 coins ({format_money(coin_value(6_000, 'USD'))}) in 40 gifts" in page
    assert table.count("<tr>") == 1 + 2  # the header and two lines, not forty
    assert len([row for row in csv_rows if row[0] == "gift"]) == 40  # the CSV keeps every gift
    assert [row[3:5] for row in csv_rows if row[2] == "Gifts sent"] == [["40", "6000"]]


def test_a_creator_sees_the_waterfall_page(client, bob, month_of_activity):
    client.force_login(bob)

    page = client.get(month_url("statement", THIS_MONTH)).content.decode()

    assert "+600 diamonds (£2.36)" in page
    assert "\N{MINUS SIGN}4,000 diamonds (£15.72)" in page
    assert "$" not in page.split('data-testid="waterfall"')[1].split("</dl>")[0]
    assert "1 USD = 0.79 GBP" in page
    assert "£15.48" in page
    assert "Anonymous supporters" in page and "Carol" not in page


def test_one_coin_in_one_gift_reads_in_the_singular_on_both_statements(client, alice, bob, live):
    """Coins and gifts are counted apart: a month with one 1-coin gift is "1 coin in 1 gift", not "1 coins"."""
    fund(alice, 5)
    send(alice, live, make_gift(slug="statement-heart", coin_cost=1, name="Heart"))

    client.force_login(alice)
    viewer_page = client.get(month_url("statement", THIS_MONTH)).content.decode()
    client.force_login(bob)
    creator_page = client.get(month_url("statement", THIS_MONTH)).content.decode()

    sent = viewer_page.split('data-testid="gifts-sent">')[1].split("</dd>")[0]
    received = creator_page.split('data-testid="coins-received">')[1].split("</dd>")[0]
    assert sent == f"\N{MINUS SIGN}1 coin ({format_money(coin_value(1, 'USD'))}) in 1 gift"
    assert received.startswith("1 coin in 1 gift (")
    bob.language = "fr"
    bob.save(update_fields=["language"])
    in_french = client.get(month_url("statement", THIS_MONTH)).content.decode()
    assert in_french.split('data-testid="coins-received">')[1].startswith("1 pièce en 1 cadeau (")


def test_the_csv_download_is_the_users_own(client, alice, carol, month_of_activity):
    client.force_login(carol)

    response = client.get(month_url("statement-csv", THIS_MONTH))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="coinsite-viewer-statement-{THIS_MONTH:%Y-%m}.csv"'
    )
    text = response.content.decode()
    assert text == statement_csv(viewer_statement(carol, THIS_MONTH))
    assert "3 x Rose to Bob (sent anonymously)" in text
    assert "4.99" not in text and "2 x Rose" not in text  # nothing of Alice's


@pytest.mark.parametrize("slug", ["2026-13", "2026-00", "abcd-ef", "2026-1", "26-11", "2026-11-02", "1999-12"])
def test_malformed_months_are_not_found(client, alice, slug):
    client.force_login(alice)

    assert client.get(month_url("statement", slug)).status_code == 404
    assert client.get(month_url("statement-csv", slug)).status_code == 404


def test_future_months_and_months_before_the_user_joined_are_not_found(client, alice):
    client.force_login(alice)

    for month in (next_month(THIS_MONTH), previous_month(THIS_MONTH)):
        assert client.get(month_url("statement", month)).status_code == 404
        assert client.get(month_url("statement-csv", month)).status_code == 404
    assert client.get(month_url("statement", THIS_MONTH)).status_code == 200


def test_statement_pages_need_a_login(client, db):
    for url in (
        reverse("payouts:statements"),
        month_url("statement", THIS_MONTH),
        month_url("statement-csv", THIS_MONTH),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login" in response["Location"] or "/accounts/" in response["Location"]


def test_statement_pages_only_answer_get(client, alice):
    client.force_login(alice)

    assert client.post(month_url("statement-csv", THIS_MONTH)).status_code == 405


# --- Query budgets --------------------------------------------------------------------------------

# Measured: the list 3 (the session, the user, each account's first entry); a statement or its CSV 8 for a
# viewer and 11 for a creator (the session, the user, the first month; then the roll-ups' marks, the days with
# their tail and the streams' titles, the balance before the month with its moves, payouts, supporters with their
# tail and names, clawbacks), the same whatever the number of gifts, streams or payouts. A creator with 2FA has
# one more, their device (coinsite/tests/test_query_budgets.py).
STATEMENT_QUERY_BUDGET = 11


def page_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert queries.captured_queries  # every page reads at least the session
    return len(queries.captured_queries)


def statement_pages() -> list[str]:
    return [reverse("payouts:statements"), month_url("statement", THIS_MONTH), month_url("statement-csv", THIS_MONTH)]


def test_statement_pages_stay_within_their_query_budget_however_busy_the_month(
    client, alice, bob, carol, live, rose, month_of_activity
):
    counts = {}
    for user in (alice, bob):
        client.force_login(user)
        for url in statement_pages():
            client.get(url)  # the session and the process's copies of prices warm, as for a returning user
        counts[user.email] = [page_queries(client, url) for url in statement_pages()]

    fund(alice, 5_000)
    stream_end(stream=live, creator=bob)
    for number in range(3):
        stream = stream_start(creator=bob, title=f"Busy stream {number}")
        for gift in range(4):
            send(alice, stream, rose, 1, anonymous=gift == 0)
        stream_end(stream=stream, creator=bob)
    live = stream_start(creator=bob, title="Late show")
    for key in ("busy-1", "busy-2"):
        paid_payout(
            bob, diamonds=100, at=timezone.now(), rate="0.79", gross=gbp("0.40"), fee=gbp("0.01"), net=gbp("0.39")
        )
    earnings_rollup_all(now=timezone.now() + datetime.timedelta(minutes=5))
    ledger_rollup_pending()
    send(alice, live, rose, 1)  # and a tail after the roll-ups

    for user in (alice, bob):
        client.force_login(user)
        busier = [page_queries(client, url) for url in statement_pages()]
        assert busier == counts[user.email]
        assert max(busier) <= STATEMENT_QUERY_BUDGET
