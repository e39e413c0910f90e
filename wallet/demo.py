"""Demo data for the wallet: a recharge history for the demo viewer, credited through the real path.

Called by ``python manage.py seed_demo``. Idempotent: each top-up has a fixed public id and each
provider event a fixed event id, so a second run finds them and credits nothing more.
"""

import datetime
import uuid

from django.core.management.base import OutputWrapper
from django.utils import timezone
from djmoney.money import Money

from coinsite.accounts.models import User
from wallet import selectors, services
from wallet.models import CoinPackage, CoinPackagePrice, TopUp, TopUpStatus
from wallet.providers.base import PaymentEvent

VIEWER_EMAIL = "viewer@coinsite.local"
DEMO_NAMESPACE = uuid.UUID("6f1d3c52-8d0e-4f8b-9a57-3c2f0d1e7b40")
# (name, days ago, package coins or None, custom coins, payment method, outcome)
HISTORY = [
    ("welcome", 26, 700, None, "card", "succeeded"),
    ("weekend", 18, 1_400, None, "paypal", "succeeded"),
    ("declined", 11, 3_500, None, "card", "failed"),
    ("custom", 9, None, 2_500, "google_pay", "succeeded"),
    ("big-stream", 3, 7_000, None, "apple_pay", "succeeded"),
]


def seed_demo(*, users: dict[str, User], stdout: OutputWrapper) -> None:
    viewer = users.get(VIEWER_EMAIL)
    if viewer is None:
        return
    now = timezone.now()
    for name, days_ago, package_coins, custom_coins, method, outcome in HISTORY:
        topup = _ensure_topup(
            viewer,
            name=name,
            started_at=now - datetime.timedelta(days=days_ago),
            package_coins=package_coins,
            custom_coins=custom_coins,
            method=method,
        )
        if topup is not None:
            _settle(topup, outcome)
    credited = TopUp.objects.filter(user=viewer, status=TopUpStatus.SUCCEEDED)
    stdout.write(f"Wallet demo: {viewer.email} has {credited.count()} paid recharges in their history.")


def demo_public_id(name: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"{VIEWER_EMAIL}/topup/{name}")


def _ensure_topup(
    viewer: User,
    *,
    name: str,
    started_at: datetime.datetime,
    package_coins: int | None,
    custom_coins: int | None,
    method: str,
) -> TopUp | None:
    public_id = demo_public_id(name)
    existing = TopUp.objects.filter(public_id=public_id).first()
    if existing is not None:
        return existing
    currency = selectors.user_currency(viewer)
    purchase = _catalogue_price(currency, package_coins=package_coins, custom_coins=custom_coins)
    if purchase is None:
        return None
    package, coins, bonus_coins, amount = purchase
    # receipt_sent_at is set up front: the demo history should not email its receipts again.
    return TopUp.objects.create(
        public_id=public_id,
        user=viewer,
        package=package,
        coins=coins,
        bonus_coins=bonus_coins,
        amount=amount,
        country=viewer.country,
        payment_method=method,
        provider="sandbox",
        provider_session_id=f"sbx_demo_{name}",
        created_at=started_at,
        expires_at=started_at + datetime.timedelta(hours=1),
        receipt_sent_at=started_at + datetime.timedelta(minutes=2),
    )


def _catalogue_price(
    currency: str, *, package_coins: int | None, custom_coins: int | None
) -> tuple[CoinPackage | None, int, int, Money] | None:
    if package_coins is not None:
        package = CoinPackage.objects.filter(coins=package_coins).first()
        price = CoinPackagePrice.objects.filter(package=package, price_currency=currency).first()
        if package is None or price is None:
            return None
        return package, package.coins, package.bonus_coins, price.price
    rate = selectors.coin_rate(currency)
    if rate is None or custom_coins is None:
        return None
    return None, custom_coins, 0, selectors.custom_price(rate, custom_coins)


def _settle(topup: TopUp, outcome: str) -> None:
    """Apply the provider's outcome exactly as a webhook would; a replay is a duplicate event."""
    paid_at = topup.created_at + datetime.timedelta(minutes=2)
    services.topup_apply_event(
        provider_name="sandbox",
        event=PaymentEvent(
            event_id=f"evt_demo_{topup.public_id.hex}",
            type=outcome,
            reference=str(topup.public_id),
            provider_session_id=topup.provider_session_id,
            amount=Money(topup.amount.amount, topup.amount.currency),
            occurred_at=paid_at,
        ),
    )
    # The history reads better with the dates it pretends to have; the ledger keeps its own times.
    TopUp.objects.filter(pk=topup.pk, completed_at__gt=paid_at).update(completed_at=paid_at)
