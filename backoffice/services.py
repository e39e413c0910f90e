"""Staff operations that span apps: refunds and chargebacks of top-ups, with the clawback of
creators' diamonds still on hold.

A reversal needs the top-up (wallet), the viewer's gift history (gifting) and the hold period
(payouts), so it lives in backoffice, which may import them all. The coin side is
`wallet.staff.topup_reverse_coins`; this module adds the diamonds.

When the viewer had already spent some of the reversed coins, those coins went to creators as
gifts. The gifts the viewer sent since the top-up, newest first, up to the spent amount, whose
diamonds are still on hold, are clawed back from their creators (diamonds back to diamonds
issued) — the point of the hold period. Diamonds already withdrawable or paid out stay with the
creator, and the viewer's debt stays recorded as a receivable either way.
"""

import datetime
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction

from coinsite.accounts.models import User
from coinsite.accounts.staff_audit import staff_action_record
from coinsite.lib.tasks import task_enqueue_on_commit
from gifting.models import GiftEvent
from payouts.earnings import CLAWBACK_KIND, first_held_day
from wallet import ledger
from wallet.models import Asset, LedgerAccount, SystemAccount, TopUp
from wallet.staff import CoinReversal, topup_reverse_coins
from wallet.tasks import topup_send_reversal_notice

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reversal:
    coins: CoinReversal
    diamonds_clawed_back: dict[int, int]  # creator id -> diamonds taken back


def topup_reverse(*, topup_id: int, staff: User, kind: str, reason: str) -> Reversal:
    """Refund or charge back a top-up once: coins back (never below zero), the rest owed, held diamonds clawed back.

    One durable transaction: lock order is the top-up, the viewer's coin wallet, then each
    creator's diamond wallet in primary-key order.
    """
    with transaction.atomic(durable=True):
        coins = topup_reverse_coins(topup_id=topup_id, staff=staff, kind=kind, reason=reason)
        clawed = _claw_back_held_diamonds(coins.topup, spent=coins.shortfall) if coins.shortfall else {}
        if clawed:
            staff_action_record(
                actor=staff,
                action=f"topup.{kind}.clawback",
                target=coins.topup,
                after={"diamonds_clawed_back": {str(k): v for k, v in clawed.items()}},
                reason=reason,
            )
        task_enqueue_on_commit(topup_send_reversal_notice, coins.topup.pk)
    logger.info(
        "Top-up %s %s: %s coins back, %s owed, diamonds clawed back %s",
        coins.topup.public_id,
        kind,
        coins.clawed_back,
        coins.shortfall,
        clawed,
    )
    return Reversal(coins=coins, diamonds_clawed_back=clawed)


def _claw_back_held_diamonds(topup: TopUp, *, spent: int) -> dict[int, int]:
    held_since = datetime.datetime.combine(first_held_day(), datetime.time.min, tzinfo=datetime.UTC)
    since = max(topup.completed_at or topup.created_at, held_since)
    wanted: dict[int, dict[datetime.date, int]] = defaultdict(lambda: defaultdict(int))
    remaining = spent
    gifts = (
        GiftEvent.objects.filter(sender=topup.user, created_at__gte=since)
        .order_by("-created_at", "-id")
        .values_list("creator_id", "diamonds", "coins", "created_at")
    )
    for creator_id, diamonds, coins, created_at in gifts.iterator(chunk_size=500):
        if remaining <= 0:
            break
        share = min(coins, remaining)
        wanted[creator_id][created_at.astimezone(datetime.UTC).date()] += diamonds * share // coins
        remaining -= share
    clawed = {}
    for creator_id in sorted(wanted):
        taken = _claw_back(creator_id, wanted[creator_id], topup)
        if taken:
            clawed[creator_id] = taken
    return clawed


def _claw_back(creator_id: int, by_day: dict[datetime.date, int], topup: TopUp) -> int:
    diamonds = sum(by_day.values())
    account = LedgerAccount.objects.filter(user_id=creator_id, asset=Asset.DIAMOND).first()
    if account is None or diamonds <= 0:
        return 0
    ledger.ledger_rollup(account=account)  # fold pending credits; holds the wallet's row lock from here
    balance = LedgerAccount.objects.values_list("balance", flat=True).get(pk=account.pk)
    taken = min(balance, diamonds)
    if taken:
        ledger.ledger_move(
            source=account,
            destination=ledger.system_account(SystemAccount.DIAMONDS_ISSUED),
            asset=Asset.DIAMOND,
            amount=taken,
            kind=CLAWBACK_KIND,
            idempotency_key=f"topup:{topup.public_id}:clawback:{creator_id}",
            memo=f"Clawback: gifts paid with a {topup.get_reversal_display().lower()} recharge",
            # Which top-up and which days' gifts: the dashboard takes the held part off "On hold", and
            # the statement names where each clawback came from (payouts.earnings.clawbacks_since).
            metadata={"topup": str(topup.public_id), "reversal": topup.reversal, "days": _days_taken(by_day, taken)},
            durable=False,
        )
    return taken


def _days_taken(by_day: dict[datetime.date, int], taken: int) -> dict[str, int]:
    """The `taken` diamonds spread over the gift days, newest first (the gifts clawed back first)."""
    days = {}
    for day in sorted(by_day, reverse=True):
        part = min(by_day[day], taken)
        if part:
            days[day.isoformat()] = part
        taken -= part
    return days
