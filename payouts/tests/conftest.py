import pytest

from gifting.services import stream_start
from gifting.tests.support import ensure_countries, make_gift


@pytest.fixture
def countries(db):
    ensure_countries()


@pytest.fixture
def stream(bob, countries):
    """Bob (a creator) is live."""
    return stream_start(creator=bob, title="Payout night")


@pytest.fixture
def big_gift(db):
    """A 10,000-coin gift offered everywhere."""
    return make_gift(slug="test-lion", coin_cost=10_000)
