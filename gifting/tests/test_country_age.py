"""Gifting is for adults as the sender's country defines them: 19 in South Korea (wallet.Country.minimum_age),
18 elsewhere. The age is read in the gift's one context query."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from coinsite.accounts.tests.factories import make_user
from gifting.services import GiftNotAllowed, gift_send
from gifting.tests.support import fund, snapshot
from wallet.ledger import user_balance
from wallet.models import Asset, Country

pytestmark = pytest.mark.django_db


def aged(years: int, *, country: str, turning_tomorrow: bool = False, email: str = "sender@example.com"):
    """A funded sender who turned `years` today (or turns it tomorrow: one year younger)."""
    today = timezone.localdate()
    try:
        born = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        born = today.replace(year=today.year - years, day=28)
    if turning_tomorrow:
        born += datetime.timedelta(days=1)
    user = make_user(email=email, country=country, birth_date=born)
    fund(user, 300)
    return user


@pytest.fixture
def korea(countries):
    Country.objects.update_or_create(
        code="KR", defaults={"currency": "KRW", "gifting_enabled": True, "minimum_age": 19}
    )


def send(sender, stream, gift, key="age-1"):
    return gift_send(sender=sender, stream_id=stream.pk, gift_id=gift.pk, quantity=1, idempotency_key=key)


def test_an_18_year_old_in_south_korea_cannot_gift_and_nothing_changes(korea, stream, coffee):
    sender = aged(19, country="KR", turning_tomorrow=True)
    before = snapshot()

    with pytest.raises(GiftNotAllowed) as refused:
        send(sender, stream, coffee)

    assert refused.value.code == "age"
    assert str(refused.value) == "Gifts can only be sent by people aged 19 or over."
    assert snapshot() == before
    assert user_balance(sender, Asset.COIN) == 300


def test_a_korean_who_turned_19_may_gift(korea, stream, coffee):
    sender = aged(19, country="KR")

    send(sender, stream, coffee)

    assert user_balance(sender, Asset.COIN) == 270


def test_an_18_year_old_elsewhere_may_gift_and_the_age_costs_no_extra_query(korea, stream, coffee):
    sender = aged(18, country="US")
    send(sender, stream, coffee, key="warm-up")  # creates the creator's diamond wallet

    with CaptureQueriesContext(connection) as queries:
        send(sender, stream, coffee, key="age-2")

    assert user_balance(sender, Asset.COIN) == 240
    # The age limit is read by the gift's one statement (the test transaction adds a savepoint around it).
    statements = [query["sql"] for query in queries if "SAVEPOINT" not in query["sql"]]
    assert len(statements) == 1 and "gifting_gift_send(" in statements[0]
