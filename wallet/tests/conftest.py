"""Fixtures the wallet's test modules share; the helpers they use are in support.py."""

import pytest

from wallet.audit import ledger_audit_run
from wallet.models import TopUp
from wallet.providers.stripe import StripeProvider
from wallet.tests.support import (
    STRIPE_WEBHOOK_SECRET,
    FakeStripeHTTP,
    Outbox,
    catalogue_ensure,
    checkout_session_json,
    package,
    post_sandbox,
    sandbox_outbox_install,
    start,
)


@pytest.fixture
def outbox(settings) -> Outbox:
    """Sandbox webhooks recorded in OUTBOX (emptied first) instead of sent."""
    return sandbox_outbox_install(settings)


@pytest.fixture
def catalogue(db):
    """The countries, packages and prices migration 0004 seeds (put back if a transactional test flushed them)."""
    catalogue_ensure()


@pytest.fixture
def stripe_http(settings, monkeypatch):
    """PAYMENT_PROVIDER=stripe, with the SDK talking to a fake Stripe API instead of the network."""
    settings.PAYMENT_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_123"
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
    http = FakeStripeHTTP(
        (200, checkout_session_json(id="cs_test_first", url="https://checkout.stripe.com/c/pay/cs_test_first")),
        (200, checkout_session_json(id="cs_test_second", url="https://checkout.stripe.com/c/pay/cs_test_second")),
    )
    build = StripeProvider.__init__
    monkeypatch.setattr(StripeProvider, "__init__", lambda self, **kwargs: build(self, http_client=http, **kwargs))
    return http


@pytest.fixture
def ledger_stays_consistent(db):
    """After the test, the nightly ledger audit passes (modules take it with `pytest.mark.usefixtures`)."""
    yield
    report = ledger_audit_run()
    assert report.ok, "\n".join(report.lines())


@pytest.fixture
def topup(client, alice, outbox, catalogue):
    """Alice's pending 700-coin top-up ($9.99) with an open sandbox checkout."""
    client.force_login(alice)
    start(client, choice=str(package(700).pk))
    client.logout()  # webhooks come from the provider, not from a logged-in browser
    return TopUp.objects.get()


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """POST a signed sandbox event and run what it schedules on commit (the receipt email)."""

    def deliver(body: bytes, **signing):
        with django_capture_on_commit_callbacks(execute=True):
            return post_sandbox(client, body, **signing)

    return deliver


@pytest.fixture
def stripe_topups(client, alice, stripe_http):
    """Alice's two pending Stripe top-ups: 700 coins by card, then 1,000 custom coins by PayPal."""
    client.force_login(alice)
    first = start(client, choice=str(package(700).pk))
    second = start(client, choice="custom", custom_coins="1000", payment_method="paypal")
    client.logout()
    assert (first.url, second.url) == (
        "https://checkout.stripe.com/c/pay/cs_test_first",
        "https://checkout.stripe.com/c/pay/cs_test_second",
    )
    return TopUp.objects.get(provider_session_id="cs_test_first"), TopUp.objects.get(
        provider_session_id="cs_test_second"
    )
