import pytest

from gifting.models import Gift
from gifting.services import stream_start
from gifting.tests.support import catalogue_reseed, ensure_countries, make_gift


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
    """Coin prices and the gift catalogue as the migrations seed them (again if a transactional test flushed them)."""
    catalogue_reseed()


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
