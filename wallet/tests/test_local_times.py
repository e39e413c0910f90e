"""Budgets still count UTC days and months, but a viewer reads every moment, the budgets' "00:00 UTC"
reset included, as local time in the zone they chose, in their language's style; the history's date
filter takes days in that zone too."""

import datetime
import uuid
from unittest import mock

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from coinsite.accounts.models import User
from coinsite.lib.l10n import time_zone
from wallet.ledger import account_for_user, ledger_credit, ledger_debit
from wallet.ledger_kinds import spending_kinds
from wallet.models import Asset, TopUp
from wallet.spending import SpendingBlocked, self_exclusion_start, spending_check, spending_limits_set

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
NOW = datetime.datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
NNBSP = "\u202f"


def at(moment: datetime.datetime):
    return mock.patch("django.utils.timezone.now", return_value=moment)


def post(user, coins: int, *, when: datetime.datetime, kind: str = "gift") -> None:
    with at(when):
        (ledger_credit if coins > 0 else ledger_debit)(
            account=account_for_user(user, Asset.COIN),
            asset=Asset.COIN,
            amount=abs(coins),
            memo=f"{kind} at {when:%H:%M}",
            idempotency_key=f"test:{uuid.uuid4()}",
            kind=kind if coins < 0 else "topup",
        )


def refused_spend(user, coins: int, *, language: str, zone: str) -> str:
    with (
        translation.override(language),
        timezone.override(time_zone(zone)),
        transaction.atomic(),
        pytest.raises(SpendingBlocked) as blocked,
    ):
        spending_check(user=user, coins=coins, kinds=spending_kinds(), now=NOW)
    return str(blocked.value)


def test_a_budget_refusal_says_when_it_resets_in_the_viewers_zone(alice):
    post(alice, 1_000, when=NOW - datetime.timedelta(days=3))
    spending_limits_set(user=alice, daily_limit=100, monthly_limit=None, now=NOW - datetime.timedelta(days=2))
    post(alice, -60, when=NOW - datetime.timedelta(hours=1))

    # The UTC day ends at 00:00 UTC on 16 Nov: 01:00 in Paris, 09:00 in Seoul, 16:00 on the 15th in Los Angeles.
    assert refused_spend(alice, 41, language="en", zone="Europe/Paris") == (
        f"This would take you past your daily budget of 100 coins. You have 40 coins left until "
        f"Nov 16, 2026, 1:00{NNBSP}AM (Paris)."
    )
    assert "2026. 11. 16. 오전 9:00 (서울)" in refused_spend(alice, 41, language="ko", zone="Asia/Seoul")
    assert refused_spend(alice, 41, language="en", zone="America/Los_Angeles").endswith(
        f"Nov 15, 2026, 4:00{NNBSP}PM (Los Angeles)."
    )


def test_a_self_exclusion_refusal_gives_its_end_in_the_viewers_zone(alice):
    self_exclusion_start(user=alice, period="24h", now=NOW)

    message = refused_spend(alice, 1, language="fr", zone="Europe/Paris")

    assert message.startswith("Vous avez mis en pause") and "16 nov. 2026, 13:00 (Paris)" in message


def test_the_controls_page_shows_the_reset_in_local_time(client, alice):
    User.objects.filter(pk=alice.pk).update(language="en", time_zone="America/Los_Angeles")
    client.force_login(alice)

    with at(NOW):
        page = client.get(reverse("wallet:controls")).content.decode()

    resets = page.split('data-testid="budget-resets">', 1)[1].split("</p>", 1)[0]
    assert resets == (
        f"Your daily budget starts again every day at 4:00{NNBSP}PM (Los Angeles), your monthly budget on "
        f"Nov 30, 2026, 4:00{NNBSP}PM (Los Angeles). Only gifts count as spending."
    )
    assert "UTC" not in resets


def test_the_history_filter_takes_days_in_the_viewers_zone(client, alice):
    # 23:30 UTC on the 15th is already 08:30 on the 16th in Seoul; 01:00 UTC on the 16th is 10:00 there.
    post(alice, 500, when=datetime.datetime(2026, 11, 15, 14, 0, tzinfo=UTC))  # 23:00 on the 15th in Seoul
    post(alice, -30, when=datetime.datetime(2026, 11, 15, 23, 30, tzinfo=UTC))
    post(alice, -20, when=datetime.datetime(2026, 11, 16, 16, 0, tzinfo=UTC))  # 01:00 on the 17th in Seoul
    User.objects.filter(pk=alice.pk).update(language="en", time_zone="Asia/Seoul")
    client.force_login(alice)

    page = client.get(reverse("wallet:index"), {"date_from": "2026-11-16", "date_to": "2026-11-16"}).content.decode()

    assert "gift at 23:30" in page
    assert "gift at 16:00" not in page
    assert "topup at 14:00" not in page
    assert f"Nov 16, 2026, 8:30{NNBSP}AM (Seoul)" in page


def test_a_receipt_page_shows_the_time_in_the_viewers_zone(client, alice):
    topup = TopUp.objects.create(
        user=alice,
        coins=70,
        amount="0.99",
        country="US",
        payment_method="card",
        provider="sandbox",
        expires_at=NOW,
        created_at=datetime.datetime(2026, 11, 16, 0, 5, tzinfo=UTC),
    )
    User.objects.filter(pk=alice.pk).update(language="en", time_zone="Asia/Seoul")
    client.force_login(alice)

    page = client.get(reverse("wallet:topup-detail", args=[topup.public_id])).content.decode()

    assert f"Nov 16, 2026, 9:05{NNBSP}AM (Seoul)" in page
    assert "UTC" not in page.split('<dl class="facts">', 1)[1].split("</dl>", 1)[0]
