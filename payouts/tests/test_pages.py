"""The creator pages: the dashboard's figures, 2FA in front of methods and payouts, object access."""

import datetime
import json
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from djmoney.money import Money

from coinsite.accounts.tests.factories import enroll_totp, make_user
from coinsite.celery import app
from coinsite.lib import access
from coinsite.tests.support import within
from gifting.services import gift_send, stream_start
from gifting.tests.support import ensure_countries, fund, make_gift
from payouts.exchange import rates_load
from payouts.models import Payout, PayoutMethod, PayoutStatus
from payouts.selectors import chart_text
from payouts.services import payout_request, payouts_sweep
from payouts.tests.support import add_method, give_diamonds, money_state
from wallet.audit import ledger_audit_run
from wallet.valuation import DiamondAmount, Valuation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _rates(db):
    rates_load()


def fresh_session(client):
    session = client.session
    session[access.SUDO_SESSION_KEY] = 2**40
    session.save()


@pytest.fixture
def creator_client(client, bob):
    enroll_totp(bob)
    client.force_login(bob)
    return client


def test_dashboard_shows_every_diamond_amount_with_its_money_value(creator_client, bob):
    give_diamonds(bob, 12_345)

    page = creator_client.get(reverse("payouts:index")).content.decode()

    # Bob is paid in pounds: every amount is in pounds ($61.73 at the stored 0.7862).
    assert re.search(r'data-testid="available">.*12,345 diamonds.*\(£48\.53\)', page)
    assert re.search(r'data-testid="on-hold">.*0 diamonds.*\(£0\.00\)', page)
    assert "chart.umd.min.js" in page and 'id="earnings-data"' in page
    assert "Minimum £39.31 (10,000 diamonds)" in page or "Add a bank account or PayPal first" in page


def test_viewers_see_an_explanation_not_a_dashboard(client, alice):
    client.force_login(alice)
    response = client.get(reverse("payouts:index"))
    assert response.status_code == 200
    assert "Earnings are for creators" in response.content.decode()


def test_adding_a_method_needs_two_factor_then_a_fresh_code(client, bob):
    client.force_login(bob)
    data = {"kind": "paypal", "holder_name": "Bob", "currency": "USD", "paypal_email": "bob@example.com"}

    response = client.post(reverse("payouts:method-add"), data)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:security")

    enroll_totp(bob)
    response = client.post(reverse("payouts:method-add"), data)
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:confirm"))
    assert PayoutMethod.objects.count() == 0

    fresh_session(client)
    response = client.post(reverse("payouts:method-add"), data)
    assert response.status_code == 302
    assert PayoutMethod.objects.get().paypal_email == "bob@example.com"


def test_a_bad_iban_is_explained_and_nothing_is_saved(creator_client):
    fresh_session(creator_client)
    response = creator_client.post(
        reverse("payouts:method-add"),
        {
            "kind": "bank",
            "holder_name": "Bob",
            "currency": "EUR",
            "iban": "DE89 3704 0044 0532 0130 01",
            "bic": "COBADEFFXXX",
        },
    )

    assert response.status_code == 400
    assert "check digits do not match" in response.content.decode()
    assert PayoutMethod.objects.count() == 0


def test_requesting_a_payout_needs_a_fresh_code_and_then_pays(creator_client, bob):
    give_diamonds(bob, 20_000)
    method = add_method(bob)
    data = {"diamonds": "10000", "method": str(method.pk), "idempotency_key": "page-1"}
    before = money_state()

    response = creator_client.post(reverse("payouts:request"), data)
    assert response["Location"].startswith(reverse("accounts:confirm"))
    assert money_state() == before

    fresh_session(creator_client)
    response = creator_client.post(reverse("payouts:request"), data)
    payout = Payout.objects.get()
    assert response["Location"] == reverse("payouts:payout", args=[payout.public_id])
    assert payout.diamonds == 10_000


def test_a_refused_request_shows_why_and_changes_nothing(creator_client, bob):
    give_diamonds(bob, 5_000)
    method = add_method(bob)
    fresh_session(creator_client)
    before = money_state()

    response = creator_client.post(
        reverse("payouts:request"),
        {"diamonds": "10000", "method": str(method.pk), "idempotency_key": "page-2"},
        follow=True,
    )

    assert "You have 5,000 diamonds available; you asked for 10,000." in response.content.decode()
    assert money_state() == before


def test_another_creators_payout_and_method_are_not_found(creator_client, db):
    other = make_user(email="eve@example.com", is_creator=True)
    give_diamonds(other, 20_000)
    method = add_method(other)
    payout = payout_request(creator=other, method_id=method.pk, diamonds=10_000, idempotency_key="eve")

    assert creator_client.get(reverse("payouts:payout", args=[payout.public_id])).status_code == 404
    fresh_session(creator_client)
    assert creator_client.get(reverse("payouts:method-change", args=[method.pk])).status_code == 404
    assert creator_client.post(reverse("payouts:method-remove", args=[method.pk])).status_code == 404
    method.refresh_from_db()
    assert method.retired_at is None
    assert Payout.objects.get().status == PayoutStatus.QUEUED


def test_chart_data_and_supporters_with_anonymous_gifts_in_one_row(creator_client, bob, alice, db):
    ensure_countries()
    stream = stream_start(creator=bob, title="Chart night")
    heart = make_gift(slug="test-heart", coin_cost=5)
    carol = make_user(email="carol@example.com", display_name="Carol")
    for viewer, key, anonymous in [(alice, "a1", False), (alice, "a2", True), (carol, "c1", True)]:
        fund(viewer, 100)
        gift_send(
            sender=viewer, stream_id=stream.pk, gift_id=heart.pk, quantity=2, idempotency_key=key, anonymous=anonymous
        )

    page = creator_client.get(reverse("payouts:index")).content.decode()

    chart = json.loads(re.search(r'<script id="earnings-data" type="application/json">(.*?)</script>', page).group(1))
    assert len(chart["labels"]) == len(chart["diamonds"]) == 90
    assert chart["diamonds"][-1] == 30
    supporters = re.search(r'data-testid="supporters">(.*?)</table>', page, re.S).group(1)
    rows = [
        re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", row)).strip()
        for row in re.findall(r"<tr>(.*?)</tr>", supporters, re.S)[1:]
    ]
    assert rows == ["Anonymous 2 20 diamonds (£0.08)", "Alice 1 10 diamonds (£0.04)"]
    assert "Carol" not in page
    # The chart's text alternative: the canvas points at a summary, and every day is in a table.
    assert 'role="img" aria-label="Bar chart of the diamonds earned per day" aria-describedby="chart-summary"' in page
    today = f"{timezone.now():%-d %b}"
    assert text_of(page, "chart-summary", "ul") == (
        f"Last 30 days: 30 diamonds (£0.12) — best day {today}: 30 diamonds (£0.12) "
        f"Last 90 days: 30 diamonds (£0.12) — best day {today}: 30 diamonds (£0.12)"
    )
    assert text_of(page, "chart-table", "table").startswith(
        f"Day (UTC) Diamonds earned {timezone.now():%-d %b %Y} 30 diamonds (£0.12) "
    )


def text_of(page: str, test_id: str, tag: str) -> str:
    found = re.search(rf'data-testid="{test_id}">(.*?)</{tag}>', page, re.S)
    assert found is not None, f"no {test_id} in the page"
    html = found.group(1)
    return re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", html)).strip()


def test_the_chart_text_gives_each_periods_total_and_best_day_and_every_day_newest_first():
    today = datetime.date(2026, 11, 30)
    daily = [(today - datetime.timedelta(days=89 - number), 0) for number in range(90)]
    daily[0] = (daily[0][0], 700)  # 89 days ago: the best of 90 days, outside the last 30
    daily[-5] = (daily[-5][0], 500)
    daily[-2] = (daily[-2][0], 500)  # as good as four days ago, but later: the earliest counts
    daily[-1] = (today, 300)

    text = chart_text(daily, valuation=Valuation())

    assert [(period.days, period.total, period.best_day, period.best) for period in text.periods] == [
        (30, amount(1_300), datetime.date(2026, 11, 26), amount(500)),
        (90, amount(2_000), datetime.date(2026, 9, 2), amount(700)),
    ]
    assert [day for day, _ in text.days] == [day for day, _ in reversed(daily)]
    assert text.days[:2] == [(today, amount(300)), (datetime.date(2026, 11, 29), amount(500))]


def test_a_period_without_earnings_has_no_best_day():
    daily = [(datetime.date(2026, 11, day), 0) for day in range(1, 31)]

    [period] = chart_text(daily, valuation=Valuation(), periods=(30,)).periods

    assert (period.total, period.best_day, period.best) == (amount(0), None, amount(0))


def amount(diamonds: int) -> DiamondAmount:
    """At the default diamond value, half a US cent."""
    return DiamondAmount(diamonds=diamonds, value=Money(Decimal(diamonds) * Decimal("0.005"), "USD").round(2))


def test_a_payout_requested_while_the_broker_hangs_is_taken_and_the_sweep_pays_it(
    transactional_db, hung_broker, creator_client, bob, settings
):
    """The diamonds move at the commit; the task that pays them is queued after it. A Redis broker that hangs
    then must not hold the request (kombu waits forever by default) nor turn it into an error page."""
    settings.PAYOUTS_STUCK_AFTER_SECONDS = 90
    give_diamonds(bob, 20_000)
    method = add_method(bob)
    fresh_session(creator_client)
    data = {"diamonds": "10000", "method": str(method.pk), "idempotency_key": "broker-hung"}

    response = within(60, lambda: creator_client.post(reverse("payouts:request"), data))

    payout = Payout.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("payouts:payout", args=[payout.public_id])
    assert (payout.status, payout.diamonds) == (PayoutStatus.QUEUED, 10_000)
    assert hung_broker.connections >= 1

    hung_broker.close()  # the broker is back (eager, as in the other tests), and the task was never queued
    app.conf.task_always_eager = True
    Payout.objects.filter(pk=payout.pk).update(updated_at=timezone.now() - datetime.timedelta(seconds=100))
    assert payouts_sweep() == 1
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.PAID
    assert ledger_audit_run().ok
