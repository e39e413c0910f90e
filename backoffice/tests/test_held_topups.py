"""Finance release a top-up held for review (paid from another country than the account's) in admin:
credited exactly once, one receipt, audited. The hold itself and the review services are tested in
wallet/tests/test_payment_country.py."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from backoffice.tests.support import admin_login, make_staff
from coinsite.accounts.models import StaffAction
from wallet.audit import ledger_audit_run
from wallet.ledger import user_balance
from wallet.models import Asset, LedgerTransaction, TopUp, TopUpStatus
from wallet.tests.support import catalogue_ensure, package, pay_from_abroad, sandbox_outbox_install, start


@pytest.fixture
def held(client, alice, settings, django_capture_on_commit_callbacks) -> TopUp:
    """Alice (US) paid a 700-coin top-up on the sandbox's page with a card billed in GB: held, nothing credited."""
    outbox = sandbox_outbox_install(settings)
    catalogue_ensure()
    client.force_login(alice)
    start(client, choice=str(package(700).pk))
    return pay_from_abroad(client, TopUp.objects.get(), outbox, django_capture_on_commit_callbacks)


@pytest.fixture
def finance(db):
    return make_staff(email="fiona.finance@example.com", group="finance")


def admin_action(client, action: str, topup: TopUp, reason: str):
    return client.post(
        reverse("admin:wallet_topup_changelist"),
        {"action": action, helpers.ACTION_CHECKBOX_NAME: [topup.pk], "confirm": "1", "reason": reason},
    )


def test_staff_release_credits_exactly_once_with_one_receipt(
    client, alice, held, finance, django_capture_on_commit_callbacks, mailoutbox
):
    admin_login(client, finance)

    with django_capture_on_commit_callbacks(execute=True):
        first = admin_action(client, "release_held", held, "Travelling; card checked")
        second = admin_action(client, "release_held", held, "again")

    assert first.status_code == second.status_code == 302
    held.refresh_from_db()
    assert held.status == TopUpStatus.SUCCEEDED and held.ledger_transaction is not None
    assert user_balance(alice, Asset.COIN) == 700
    assert LedgerTransaction.objects.filter(kind="topup").count() == 1
    assert [message.to for message in mailoutbox] == [[alice.email]]
    audit = StaffAction.objects.get(action="topup.release")
    assert (audit.actor, audit.reason, audit.before["status"], audit.after["status"]) == (
        finance,
        "Travelling; card checked",
        "held",
        "succeeded",
    )
    assert ledger_audit_run().ok
