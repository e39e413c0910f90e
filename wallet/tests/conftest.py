"""Fixtures the wallet's test modules share; the helpers they use are in support.py."""

import importlib

import pytest
from django.apps import apps

from wallet.models import Country
from wallet.providers.stripe import StripeProvider
from wallet.tests.support import (
    CATALOGUE_MIGRATIONS,
    OUTBOX,
    SANDBOX_SECRET,
    SANDBOX_WEBHOOK_URL,
    STRIPE_WEBHOOK_SECRET,
    FakeStripeHTTP,
    Outbox,
    checkout_session_json,
)


@pytest.fixture
def outbox(settings) -> Outbox:
    """Sandbox webhooks recorded in OUTBOX (emptied first) instead of sent."""
    OUTBOX.reset()
    settings.SANDBOX_WEBHOOK_TRANSPORT = "wallet.tests.support.OUTBOX"
    settings.SANDBOX_WEBHOOK_URL = SANDBOX_WEBHOOK_URL
    settings.SANDBOX_WEBHOOK_SECRET = SANDBOX_SECRET
    settings.PAYMENT_CHECKOUT_MINUTES = 60
    return OUTBOX


@pytest.fixture
def catalogue(db):
    """The countries, packages and prices migrations 0004 and 0011 seed. Tests with real transactions start
    from flushed tables (and serialized_rollback cannot restore them once Playwright runs an event
    loop in the test thread), so those tests put the catalogue back with the migrations' own code."""
    if not Country.objects.exists():
        for migration in CATALOGUE_MIGRATIONS:
            importlib.import_module(f"wallet.migrations.{migration}").seed(apps, None)


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
