import importlib

import pytest
from django.apps import apps

from gifting.models import Gift
from gifting.services import stream_start
from gifting.tests.support import ensure_countries, make_gift
from wallet.models import CoinRate, Country


@pytest.fixture
def countries(db):
    ensure_countries()


@pytest.fixture
def stream(bob, countries):
    """Bob (a creator) is live."""
    return stream_start(creator=bob, title="Friday night sketching", goal_coins=1_000, goal_label="New tablet")


@pytest.fixture
def coffee(db):
    """A 30-coin gift offered everywhere."""
    return make_gift(slug="test-coffee", coin_cost=30)


@pytest.fixture
def catalogue(countries):
    """Coin prices (wallet migration 0004) and the gift catalogue (gifting migration 0003), re-seeded if a
    transactional test flushed them."""
    if not CoinRate.objects.exists():
        Country.objects.all().delete()
        importlib.import_module("wallet.migrations.0004_seed_catalogue").seed(apps, None)
    if not Gift.objects.exists():
        importlib.import_module("gifting.migrations.0003_seed_gifts").seed(apps, None)


@pytest.fixture
def alice_client(client, alice, catalogue):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(client, bob, countries):
    client.force_login(bob)
    return client


@pytest.fixture
def rose(catalogue):
    return Gift.objects.get(slug="rose")


@pytest.fixture
def lion(catalogue):
    return Gift.objects.get(slug="lion")
