"""Demo data: the demo viewer's recharge history, credited through the real path, exactly once."""

import datetime
import io

from django.core.management import call_command
from django.utils import timezone
from djmoney.money import Money

from coinsite.accounts.models import User
from coinsite.accounts.tests.factories import make_user
from wallet import demo
from wallet.audit import ledger_audit_run
from wallet.ledger import user_balance
from wallet.models import Asset, LedgerTransaction, PaymentWebhookEvent, TopUp, TopUpStatus

VIEWER = "viewer@coinsite.local"


def history(viewer):
    return [
        (
            topup.public_id,
            topup.coins,
            topup.bonus_coins,
            topup.amount,
            topup.payment_method,
            topup.status,
            topup.created_at,
            topup.completed_at,
            topup.ledger_transaction_id,
        )
        for topup in TopUp.objects.filter(user=viewer).order_by("created_at")
    ]


def test_seeding_twice_leaves_one_history_and_one_credit_per_paid_top_up(
    db, mailoutbox, django_capture_on_commit_callbacks
):
    viewer = make_user(email=VIEWER, display_name="Vera Viewer")
    output = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        demo.seed_demo(users={VIEWER: viewer}, stdout=output)
    first = history(viewer)
    with django_capture_on_commit_callbacks(execute=True):
        demo.seed_demo(users={VIEWER: viewer}, stdout=output)

    assert history(viewer) == first
    assert [(coins, bonus, amount, method, status) for _, coins, bonus, amount, method, status, *_ in first] == [
        (700, 0, Money("9.99", "USD"), "card", TopUpStatus.SUCCEEDED),
        (1_400, 0, Money("19.99", "USD"), "paypal", TopUpStatus.SUCCEEDED),
        (3_500, 0, Money("49.99", "USD"), "card", TopUpStatus.FAILED),
        (2_500, 0, Money("35.36", "USD"), "google_pay", TopUpStatus.SUCCEEDED),  # 2,500 x 0.014143
        (7_000, 350, Money("99.99", "USD"), "apple_pay", TopUpStatus.SUCCEEDED),
    ]
    assert [public_id for public_id, *_ in first] == [demo.demo_public_id(name) for name, *_ in demo.HISTORY]
    assert user_balance(viewer, Asset.COIN) == 700 + 1_400 + 2_500 + 7_350
    assert LedgerTransaction.objects.filter(kind="topup").count() == 4
    assert PaymentWebhookEvent.objects.count() == 5
    now = timezone.now()
    for _, _, _, _, _, _, created_at, completed_at, _ in first:
        assert now - datetime.timedelta(days=27) < created_at < now - datetime.timedelta(days=2)
        assert completed_at == created_at + datetime.timedelta(minutes=2)
    assert mailoutbox == []  # a demo history does not email old receipts
    assert output.getvalue().count(f"Wallet demo: {VIEWER} has 4 paid recharges in their history.") == 2
    report = ledger_audit_run()
    assert report.ok, "\n".join(report.lines())


def test_seeding_without_the_demo_viewer_does_nothing(db):
    demo.seed_demo(users={}, stdout=io.StringIO())

    assert TopUp.objects.count() == 0


def test_the_seed_demo_command_twice_leaves_the_same_balance_and_a_clean_ledger(db):
    call_command("seed_demo", stdout=io.StringIO())
    viewer = User.objects.get(email=VIEWER)
    balance = user_balance(viewer, Asset.COIN)
    topups = history(viewer)
    transactions = LedgerTransaction.objects.count()

    call_command("seed_demo", stdout=io.StringIO())

    assert user_balance(viewer, Asset.COIN) == balance
    assert history(viewer) == topups
    assert LedgerTransaction.objects.count() == transactions
    assert len(topups) == 5
    report = ledger_audit_run()
    assert report.ok, "\n".join(report.lines())
