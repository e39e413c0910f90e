"""The creator dashboard's query budget, with the data a working creator has: several streams, many
gifts from several supporters (anonymous ones too), most rolled up and a fresh tail not, payout
methods and payouts in every state. The budget holds however many rows there are."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from coinsite.accounts.tests.factories import enroll_totp, make_user
from gifting.services import gift_send, stream_end, stream_start
from gifting.tests.support import ensure_countries, fund, make_gift
from payouts.earnings import earnings_rollup_all
from payouts.exchange import rates_load
from payouts.models import PayoutStatus
from payouts.services import payout_reject, payout_request
from payouts.tests.support import add_method, give_diamonds

pytestmark = pytest.mark.django_db

DASHBOARD_QUERY_BUDGET = 15


@pytest.fixture
def busy_creator(bob, charlie):
    ensure_countries()
    rates_load()
    supporters = [make_user(email=f"fan{n}@example.com", display_name=f"Fan {n}") for n in range(6)]
    gifts = [make_gift(slug=f"budget-{cost}", coin_cost=cost) for cost in (1, 10, 99)]
    for supporter in supporters:
        fund(supporter, 50_000)
    for number in range(5):
        stream = stream_start(creator=bob, title=f"Stream {number}")
        for index, supporter in enumerate(supporters):
            for gift in gifts:
                gift_send(
                    sender=supporter,
                    stream_id=stream.pk,
                    gift_id=gift.pk,
                    quantity=1 + index,
                    idempotency_key=f"{number}:{index}:{gift.pk}",
                    anonymous=index == 0,
                )
        if number < 4:
            stream_end(stream=stream, creator=bob)
        if number == 3:
            earnings_rollup_all(now=timezone.now() + datetime.timedelta(days=1))  # stream 4 stays the unrolled tail
    give_diamonds(bob, 3_000_000)
    paypal, bank = add_method(bob), add_method(bob, kind="bank", currency="EUR")
    for key, method, diamonds in [("p1", paypal, 20_000), ("p2", bank, 30_000), ("p3", paypal, 400_000)]:
        payout_request(creator=bob, method_id=method.pk, diamonds=diamonds, idempotency_key=key)
    waiting = payout_request(creator=bob, method_id=paypal.pk, diamonds=500_000, idempotency_key="p4")
    payout_reject(payout_id=waiting.pk, staff=charlie, reason="Checking the account first.")
    return bob


def test_the_creator_dashboard_stays_within_its_query_budget(client, busy_creator, django_assert_max_num_queries):
    enroll_totp(busy_creator)
    client.force_login(busy_creator)
    client.get(reverse("payouts:index"))  # the session and auth rows are warm, as for a returning creator

    with django_assert_max_num_queries(DASHBOARD_QUERY_BUDGET):
        response = client.get(reverse("payouts:index"))

    page = response.content.decode()
    assert response.status_code == 200
    statuses = re.findall(r'data-testid="payout-status">([^<]+)<', page)
    assert (
        statuses
        == [PayoutStatus.REJECTED.label, PayoutStatus.AWAITING_APPROVAL.label]
        + [PayoutStatus.QUEUED.label] * 2  # their tasks run after commit
    )
    supporters = re.findall(r"<tr><td>([^<]+)</td><td>(\d+)</td>", page.split('data-testid="supporters"')[1])
    assert supporters[:2] == [("Fan 5", "15"), ("Fan 4", "15")]  # 5 streams x 3 gifts each
    assert ("Anonymous", "15") in supporters  # Fan 0 always gave anonymously: one row, no name
    streams = re.findall(r"<tr><td>(Stream \d)<br>.*?</td><td>(\d+)</td>", page)
    assert streams == [(f"Stream {number}", "18") for number in (4, 3, 2, 1, 0)]  # stream 4 is the unrolled tail
