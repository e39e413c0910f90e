"""The creator dashboard reads one snapshot: a roll-up committing while the page is read counts each
gift once, in the roll-ups or in the tail after their mark, never in both."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from gifting.services import gift_send
from gifting.tests.support import fund
from payouts import selectors
from payouts.earnings import earnings_rollup_all
from payouts.models import EarningsRollup


def _rolled_up_by_another_connection_after_the_mark_is_read(monkeypatch) -> list[int]:
    """Patch the dashboard's mark read so that, right after it, a roll-up of every gift commits on another
    connection; returns the list the roll-up's count lands in."""
    folded: list[int] = []
    read_mark = selectors.rolled_up_to

    def roll_up() -> None:
        try:
            folded.append(earnings_rollup_all(now=timezone.now() + datetime.timedelta(minutes=5)))
        finally:
            connection.close()

    def mark_then_roll_up() -> int:
        mark = read_mark()
        thread = threading.Thread(target=roll_up)
        thread.start()
        thread.join()
        return mark

    monkeypatch.setattr(selectors, "rolled_up_to", mark_then_roll_up)
    return folded


@pytest.mark.django_db(transaction=True)
def test_a_roll_up_committing_while_the_dashboard_reads_counts_each_gift_once(
    alice, bob, countries, stream, big_gift, monkeypatch
):
    fund(alice, 50_000)
    for key, quantity in (("g1", 1), ("g2", 2)):
        gift_send(sender=alice, stream_id=stream.pk, gift_id=big_gift.pk, quantity=quantity, idempotency_key=key)
    folded = _rolled_up_by_another_connection_after_the_mark_is_read(monkeypatch)

    dashboard = selectors.creator_dashboard(bob)

    assert folded == [2]  # the roll-up really ran and committed in the middle of the page's reads
    assert EarningsRollup.objects.get(creator=bob).diamonds == 30_000
    assert dashboard.daily[-1] == (timezone.now().date(), 30_000)
    assert [(line.stream.pk, line.gifts, line.diamonds.diamonds) for line in dashboard.streams] == [
        (stream.pk, 2, 30_000)
    ]
    assert [(supporter.gifts, supporter.coins) for supporter in dashboard.supporters] == [(2, 30_000)]
    assert {type(supporter.coins) for supporter in dashboard.supporters} == {int}  # not Decimal, as SQL sums come
    assert (dashboard.balances.total, dashboard.balances.on_hold, dashboard.balances.available) == (30_000, 30_000, 0)
