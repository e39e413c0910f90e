import pytest

from api.tokens import token_create
from gifting.services import stream_start
from gifting.tests.support import catalogue_reseed, ensure_countries


@pytest.fixture
def countries(db):
    ensure_countries()


@pytest.fixture
def catalogue(countries):
    catalogue_reseed()


@pytest.fixture
def stream(bob, catalogue):
    """Bob (a creator) is live, with a 1,000-coin goal."""
    return stream_start(creator=bob, title="Friday night sketching", goal_coins=1_000, goal_label="New tablet")


@pytest.fixture
def make_token():
    def make(user, *scopes: str, days: int = 30) -> str:
        return token_create(user=user, name="Test tool", scopes=list(scopes), expires_in_days=days).plaintext

    return make


@pytest.fixture
def api(client):
    """Call the API with a token: api.get(path, token), api.post(path, token, json, key=...)."""

    class Caller:
        def get(self, path, token=None, **extra):
            headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
            return client.get(f"/api/v1{path}", **headers, **extra)

        def post(self, path, token=None, json=None, *, key=None, **extra):
            headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
            if key is not None:
                headers["HTTP_IDEMPOTENCY_KEY"] = key
            return client.post(
                f"/api/v1{path}",
                data=json if json is not None else {},
                content_type="application/json",
                **headers,
                **extra,
            )

    return Caller()
