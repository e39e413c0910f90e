"""Helpers for the staff admin tests: staff personas in a group, a 2FA-verified admin session, money rows."""

import datetime
import uuid

from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from djmoney.money import Money

from backoffice.staff_groups import staff_groups_sync
from coinsite.accounts.tests.factories import enroll_totp, make_user
from payouts.models import Payout, PayoutMethod
from wallet.ledger import account_for_user, ledger_post, system_account
from wallet.models import Asset, SystemAccount, TopUp


def make_staff(*, email: str, group: str | None = None, is_superuser: bool = False):
    """A staff member with an authenticator, in `group` (support, finance, catalogue) or none."""
    staff_groups_sync()  # a transactional test elsewhere may have flushed the migration's groups
    user = make_user(email=email, is_staff=True, is_superuser=is_superuser)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def admin_login(client, user):
    """`client` signed in as `user` with a session that passed the 2FA step (as the login stage leaves it)."""
    device, _codes = enroll_totp(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def make_topup(
    user,
    *,
    coins: int,
    amount: Money,
    completed_at: datetime.datetime | None = None,
    status: str = "succeeded",
    bonus_coins: int = 0,
):
    """A top-up in `status`; a succeeded one credited its coins as the webhook would have, at `completed_at`."""
    at = completed_at or timezone.now()
    credit = None
    if status == "succeeded":
        total = coins + bonus_coins
        credit = ledger_post(
            idempotency_key=f"test-topup:{uuid.uuid4()}",
            kind="topup",
            posted_at=at,
            lines=[
                (account_for_user(user, Asset.COIN), Asset.COIN, total),
                (system_account(SystemAccount.COINS_ISSUED), Asset.COIN, -total),
            ],
        )
    return TopUp.objects.create(
        user=user,
        coins=coins,
        bonus_coins=bonus_coins,
        amount=amount,
        country="US",
        payment_method="card",
        provider="sandbox",
        status=status,
        expires_at=at + datetime.timedelta(hours=1),
        created_at=at,
        completed_at=at if credit else None,
        ledger_transaction=credit,
    )


def make_payout(
    creator, *, status: str, diamonds: int, net: Money | None = None, finished_at: datetime.datetime | None = None
):
    """A payout row in `status` (no ledger movement: for admin pages and reports)."""
    method = PayoutMethod.objects.create(
        creator=creator,
        kind="paypal",
        holder_name="Bob",
        paypal_email="bob.payouts@example.com",
        currency=net.currency.code if net else "USD",
    )
    value = Money(diamonds * 5 / 1000, "USD")
    return Payout.objects.create(
        creator=creator,
        method=method,
        diamonds=diamonds,
        status=status,
        idempotency_key=str(uuid.uuid4()),
        value=value,
        diamond_value=Money("0.005", "USD"),
        currency=method.currency,
        gross=net,
        fee=None,
        net=net,
        finished_at=finished_at,
    )
