"""A creator sees every amount in their own payout currency, the same on every creator page: the studio
(diamonds and the goal's coins), the dashboard, and the statement (coins and diamonds alike)."""

import re

import pytest
from django.urls import reverse

from coinsite.lib.dates import current_month
from gifting.services import gift_send, stream_goal_set, stream_start
from gifting.tests.support import ensure_countries, fund, make_gift
from payouts.services import payout_method_retire
from payouts.statements.exports import statement_csv
from payouts.statements.selectors import creator_statement
from payouts.tests.support import add_method, give_diamonds
from wallet.valuation import Valuation, creator_currency, display_currency

pytestmark = pytest.mark.django_db

CURRENCY_SIGNS = re.compile(r"[$£€¥₩]")


@pytest.fixture
def euro_creator(client, bob, alice):
    """Bob lives in Britain (pounds preferred) and is paid in euros; Alice sent him gifts on a stream with a goal."""
    ensure_countries()
    add_method(bob, kind="bank", currency="EUR")
    bob.refresh_from_db()
    stream = stream_start(creator=bob, title="Euro night")
    stream_goal_set(stream=stream, creator=bob, goal_coins=1_000, goal_label="New lens")
    fund(alice, 1_000)
    gift_send(
        sender=alice,
        stream_id=stream.pk,
        gift_id=make_gift(slug="cc-cake", coin_cost=250).pk,
        quantity=2,
        idempotency_key="cc1",
    )
    give_diamonds(bob, 10_000)
    client.force_login(bob)
    return bob


def signs(text: str) -> set[str]:
    return set(CURRENCY_SIGNS.findall(text))


def test_the_payout_currency_follows_the_newest_method(bob):
    assert (bob.payout_currency, creator_currency(bob), display_currency(bob)) == ("", "GBP", "GBP")

    euros = add_method(bob, kind="bank", currency="EUR")
    bob.refresh_from_db()
    assert (bob.payout_currency, display_currency(bob)) == ("EUR", "EUR")

    dollars = add_method(bob, currency="USD")
    bob.refresh_from_db()
    assert bob.payout_currency == "USD"
    payout_method_retire(creator=bob, method=dollars)
    bob.refresh_from_db()
    assert bob.payout_currency == "EUR"
    payout_method_retire(creator=bob, method=euros)
    bob.refresh_from_db()
    assert (bob.payout_currency, creator_currency(bob)) == ("", "GBP")


def test_diamonds_convert_at_the_stored_rate_and_payouts_keep_their_own_value():
    assert Valuation().diamonds(10_000).currency.code == "USD"  # what payouts are worth
    shown = Valuation(currency="EUR").diamonds(10_000)
    assert shown.currency.code == "EUR" and 0 < shown.amount < 50


def test_the_studio_shows_diamonds_and_the_goal_in_the_payout_currency(client, euro_creator):
    html = client.get(reverse("gifting:studio")).content.decode()

    diamonds = html.split('data-testid="stream-diamonds"')[1].split("</p>")[0]
    goal = html.split('class="goal-numbers"')[1].split("</div>")[0]
    assert signs(diamonds) == {"€"}
    assert signs(goal) == {"€"}


def test_the_dashboard_shows_every_amount_in_the_payout_currency(client, euro_creator):
    html = client.get(reverse("payouts:index")).content.decode()

    main = html.split('<main id="main"')[1].split("</main>")[0]
    assert signs(main) == {"€"}
    assert "Amounts are shown in EUR" in main


def test_the_statement_shows_coins_and_diamonds_in_the_payout_currency(client, euro_creator):
    month = current_month()
    statement = creator_statement(euro_creator, month)

    assert statement.currency == "EUR"
    assert statement.coins_received_value.currency.code == "EUR"
    assert statement.diamonds_earned_value.currency.code == "EUR"
    html = client.get(reverse("payouts:statement", args=[f"{month:%Y-%m}"])).content.decode()
    waterfall = html.split('data-testid="waterfall"')[1].split("</dl>")[0]
    assert signs(waterfall) == {"€"}
    money_columns = {
        row.rsplit(",", 1)[1]
        for row in statement_csv(statement).splitlines()[1:]
        if row.endswith(("USD", "GBP", "EUR"))
    }
    assert money_columns == {"EUR"}
