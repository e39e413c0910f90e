import pytest

from gifting.services import stream_start
from gifting.tests.support import ensure_countries, make_gift


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
