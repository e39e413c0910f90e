"""Helpers for the payout tests: diamonds for a creator, a payout method, a snapshot of money state."""

import datetime
import functools
import uuid

from django.test import TestCase
from django.utils import timezone

from payouts.models import Payout, PayoutMethod, SandboxPayoutTransfer
from payouts.services import payout_method_add
from wallet.ledger import account_for_user, ledger_credit
from wallet.models import Asset
from wallet.tests.support import ledger_state

# A valid German IBAN (the ISO 13616 example) and a bank's BIC.
IBAN = "DE89370400440532013000"
BIC = "COBADEFFXXX"


def give_diamonds(creator, diamonds: int, **options) -> None:
    """Diamonds the creator earned long ago (past every hold period)."""
    ledger_credit(
        account=account_for_user(creator, Asset.DIAMOND),
        asset=Asset.DIAMOND,
        amount=diamonds,
        idempotency_key=f"test-earnings:{uuid.uuid4()}",
        kind="gift",
        **options,
    )


def add_method(creator, *, kind="paypal", currency="USD", aged=True, **details) -> PayoutMethod:
    """A payout method; `aged` moves its creation back past the payout hold."""
    if kind == "paypal":
        details.setdefault("paypal_email", "bob.payouts@example.com")
    else:
        details.setdefault("iban", IBAN)
        details.setdefault("bic", BIC)
    method = committing(payout_method_add)(
        creator=creator, kind=kind, holder_name="Bob Builder", currency=currency, **details
    )
    if aged:
        PayoutMethod.objects.filter(pk=method.pk).update(created_at=timezone.now() - datetime.timedelta(days=4))
        method.refresh_from_db()
    return method


def money_state() -> dict:
    return {**ledger_state(), "payouts": Payout.objects.count(), "transfers": SandboxPayoutTransfer.objects.count()}


def committing(service):
    """`service` with its on-commit work (tasks, emails) run when it returns, as after a real commit.

    The tests run inside one transaction that never commits, so without this nothing queued with
    `on_commit`/`delay_on_commit` would run.
    """

    @functools.wraps(service)
    def wrapper(*args, **kwargs):
        with TestCase.captureOnCommitCallbacks(execute=True):
            return service(*args, **kwargs)

    return wrapper
