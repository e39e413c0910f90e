"""Demo earnings for the demo creator: 90 days of backdated gifts on past streams, a PayPal payout
method, 2FA (backup codes) and one completed payout. Idempotent, like the rest of `seed_demo`."""

import datetime

from django.core.management.base import OutputWrapper
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from coinsite.accounts.models import User
from coinsite.accounts.two_factor import BACKUP_DEVICE_NAME
from gifting.models import Gift, GiftEvent, LiveStream
from payouts.earnings import diamond_balances, earnings_rollup_all
from payouts.exchange import rates_load
from payouts.models import Payout, PayoutMethod, PayoutMethodKind
from payouts.services import payout_request
from wallet.ledger import account_for_user, ledger_credit, ledger_post, system_account
from wallet.models import Asset, SystemAccount

CREATOR_EMAIL = "creator@coinsite.local"
CREATOR_BACKUP_CODES = [f"creatordemo{n:02d}" for n in range(1, 11)]
SUPPORTERS = [
    ("max@supporters.example", "Max Moon"),
    ("lena@supporters.example", "Lena Loops"),
    ("ravi@supporters.example", "Ravi Rhythm"),
]
HISTORY_DAYS = 90
GIFT_PATTERN = [("rose", 10), ("coffee", 3), ("heart", 2), ("crown", 1), ("rocket", 1), ("confetti", 2)]
DEMO_PAYOUT_DIAMONDS = 20_000


def seed_demo(*, users: dict[str, User], stdout: OutputWrapper) -> None:
    rates_load()  # fresh rates, so the demo's payouts convert
    creator = users[CREATOR_EMAIL]
    _ensure_backup_codes(creator)
    if not GiftEvent.objects.filter(creator=creator, idempotency_key__startswith="demo-history-").exists():
        count = _earnings_history(creator)
        stdout.write(f"Demo creator: {count} gifts over the last {HISTORY_DAYS} days.")
    earnings_rollup_all()
    method = _ensure_method(creator)
    enough = diamond_balances(creator).available >= DEMO_PAYOUT_DIAMONDS
    if enough and not Payout.objects.filter(creator=creator, idempotency_key="demo-payout-1").exists():
        payout = payout_request(
            creator=creator, method_id=method.pk, diamonds=DEMO_PAYOUT_DIAMONDS, idempotency_key="demo-payout-1"
        )
        payout.refresh_from_db()
        stdout.write(f"Demo creator: payout of {DEMO_PAYOUT_DIAMONDS:,} diamonds ({payout.get_status_display()}).")
    stdout.write(f"  The demo creator has 2FA for payouts: backup code {CREATOR_BACKUP_CODES[0]}.")


def _ensure_backup_codes(creator: User) -> None:
    device, _ = StaticDevice.objects.get_or_create(user=creator, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True})
    existing = set(device.token_set.values_list("token", flat=True))
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=code) for code in CREATOR_BACKUP_CODES if code not in existing
    )


def _ensure_method(creator: User) -> PayoutMethod:
    method = PayoutMethod.objects.filter(creator=creator, retired_at__isnull=True).first()
    if method is None:
        method = PayoutMethod.objects.create(
            creator=creator,
            kind=PayoutMethodKind.PAYPAL,
            holder_name=creator.display_name,
            paypal_email="cleo.payouts@coinsite.local",
            currency=creator.preferred_currency,
            created_at=timezone.now() - datetime.timedelta(days=HISTORY_DAYS),
            notice_sent_at=timezone.now() - datetime.timedelta(days=HISTORY_DAYS),  # history: nothing to announce
        )
    return method


def _supporters() -> list[User]:
    people = []
    for email, name in SUPPORTERS:
        user, _ = User.objects.get_or_create(
            email=email, defaults={"display_name": name, "birth_date": datetime.date(1992, 1, 1), "is_active": False}
        )
        people.append(user)
    return people


@transaction.atomic
def _earnings_history(creator: User) -> int:
    """Backdated gifts on one past stream every three days, posted as real ledger transactions."""
    supporters = _supporters()
    gifts = {gift.slug: gift for gift in Gift.objects.filter(slug__in=[slug for slug, _ in GIFT_PATTERN])}
    start = timezone.now().replace(hour=20, minute=0, second=0, microsecond=0) - datetime.timedelta(days=HISTORY_DAYS)
    for supporter in supporters:
        ledger_credit(
            account=account_for_user(supporter, Asset.COIN),
            asset=Asset.COIN,
            amount=1_000_000,
            idempotency_key=f"demo-history-fund:{supporter.pk}",
            kind="demo.grant",
            durable=False,
        )
    count = 0
    for day in range(0, HISTORY_DAYS, 3):
        began = start + datetime.timedelta(days=day)
        stream = LiveStream.objects.create(
            creator=creator,
            title=f"Lo-fi session #{day // 3 + 1}",
            started_at=began,
            ended_at=began + datetime.timedelta(hours=2),
        )
        for offset, (slug, quantity) in enumerate(GIFT_PATTERN[(day // 3) % 3 :]):
            if slug not in gifts:
                continue
            sender = supporters[(day + offset) % len(supporters)]
            _backdated_gift(
                sender=sender,
                creator=creator,
                stream=stream,
                gift=gifts[slug],
                quantity=quantity,
                at=began + datetime.timedelta(minutes=10 * (offset + 1)),
                key=f"demo-history-{stream.pk}-{offset}",
                anonymous=offset == 2,
            )
            count += 1
    return count


def _backdated_gift(
    *,
    sender: User,
    creator: User,
    stream: LiveStream,
    gift: Gift,
    quantity: int,
    at: datetime.datetime,
    key: str,
    anonymous: bool,
) -> None:
    coins = gift.coin_cost * quantity
    ledger_transaction = ledger_post(
        idempotency_key=f"gift:{sender.pk}:{key}",
        kind="gift",
        memo=f"{quantity} x {gift.name}",
        posted_at=at,
        metadata={"stream": stream.pk, "gift": gift.pk, "quantity": quantity},
        lines=[
            (account_for_user(sender, Asset.COIN), Asset.COIN, -coins),
            (system_account(SystemAccount.COINS_CONSUMED), Asset.COIN, coins),
            (system_account(SystemAccount.DIAMONDS_ISSUED), Asset.DIAMOND, -coins),
            (account_for_user(creator, Asset.DIAMOND), Asset.DIAMOND, coins),
        ],
    )
    GiftEvent.objects.create(
        stream=stream,
        sender=sender,
        creator=creator,
        gift=gift,
        quantity=quantity,
        coins=coins,
        diamonds=coins,
        is_anonymous=anonymous,
        idempotency_key=key,
        ledger_transaction=ledger_transaction,
        created_at=at,
    )
