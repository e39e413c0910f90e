import pytest

from gifting.models import LiveStream
from gifting.services import stream_start
from gifting.tests.support import ensure_countries


@pytest.fixture
def countries(db) -> None:
    ensure_countries()


@pytest.fixture
def stream(bob, countries) -> LiveStream:
    """Bob (a creator) is live."""
    return stream_start(creator=bob, title="Payout night")
