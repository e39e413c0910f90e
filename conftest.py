"""Project-wide pytest fixtures: personas, a logged-in client, Celery and browser set-up."""

import contextlib
import logging
import os
import shutil

import hypothesis
import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.core.cache import cache
from django.utils import translation

from coinsite import embedded_db
from coinsite.accounts.tests.factories import make_user
from coinsite.celery import app
from coinsite.lib.singletons import local_copies_forget
from coinsite.tests.support import hung_redis
from gifting.live.publish import publisher_reset

# Playwright's sync API runs an event loop in the test thread; Django must allow ORM calls there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Every run, CI's included, draws fresh examples: Hypothesis's own `ci` profile (loaded when CI is set)
# derandomizes, which would replay the same few dozen examples of the ledger and fast-path tests forever.
# A failure prints its `@reproduce_failure` blob; `pytest --hypothesis-seed=N` replays a whole run.
hypothesis.settings.register_profile(
    "coinsite", hypothesis.settings.default, derandomize=False, print_blob=True, deadline=None
)
hypothesis.settings.load_profile("coinsite")

_EMBEDDED_DB = pytest.StashKey[contextlib.AbstractContextManager]()

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_configure(config):
    """Start the embedded PostgreSQL when settings use it (DATABASE_URL unset). Settings start
    nothing themselves; Django connects only later, when the test database is set up."""
    if not (config.option.help or config.option.version):
        config.stash[_EMBEDDED_DB] = embedded_db.running_if_needed()
        config.stash[_EMBEDDED_DB].__enter__()


def _django_order(item: pytest.Item) -> int:
    """Django's order: tests inside a rolled-back transaction (0), then tests that commit and flush (1),
    then tests without the database (2), as pytest-django computes it."""
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    transactional = bool(marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")))
    if transactional or "transactional_db" in fixtures or "live_server" in fixtures:
        return 1
    return 0 if marker or "db" in fixtures else 2


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Sort into Django's order again, last. pytest-django sorts first, then pytest regroups tests by
    session-scoped parameters (Playwright's browser name), which put the transactional browser tests,
    and their flush of every table, before hundreds of tests that expect the migrations' data (the
    catalogue, system accounts). The sort is stable: pytest's grouping holds within each class."""
    items.sort(key=_django_order)


def pytest_unconfigure(config):
    """Stop it again (unless another command still uses it), so a test run leaves nothing behind."""
    if _EMBEDDED_DB in config.stash:
        config.stash[_EMBEDDED_DB].__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """PBKDF2 at Django's default iterations costs about 0.5 s per hash here; tests only need a hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _isolated_state(settings, tmp_path):
    """Rate-limit counters live in the cache; start every test with an empty one. A request through the test
    client leaves the language its LocaleMiddleware chose active in the thread: start every test in English.
    Staff settings rolled back with a test's transaction must not outlive it in the process's own copies."""
    cache.clear()
    local_copies_forget()
    translation.deactivate()
    yield
    cache.clear()
    local_copies_forget()
    translation.deactivate()


@pytest.fixture(autouse=True)
def _embedded_live_bus(settings):
    """Every test starts on the embedded live bus (NOTIFY) and this process's own viewer counts, as `make test` and
    CI run, whatever REDIS_URL the shell exports: a test that wants Redis sets `settings.REDIS_URL` itself, and a
    server a test starts (`gifting.tests.live_support.UvicornServer`) gets the test's choice. The cache stays as
    settings built it (Redis when REDIS_URL is exported)."""
    settings.REDIS_URL = ""


@pytest.fixture(autouse=True)
def _live_publisher_stopped():
    """A test whose gifts commit starts this process's live publisher, with its own bus connection; stop it
    after the test, so the next one gets a publisher for its own settings and the test database can be dropped."""
    yield
    publisher_reset()


@pytest.fixture(autouse=True)
def _eager_celery():
    """Tasks run inline unless a test starts a real worker (see the `celery_worker` fixtures)."""
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def alice(db):
    """A verified adult viewer in the US."""
    return make_user(email="alice@example.com", display_name="Alice")


@pytest.fixture
def bob(db):
    """A verified creator in the UK."""
    return make_user(
        email="bob@example.com", display_name="Bob", is_creator=True, country="GB", preferred_currency="GBP"
    )


@pytest.fixture
def charlie(db):
    """A staff member (no 2FA device yet)."""
    return make_user(email="charlie@example.com", display_name="Charlie", is_staff=True)


def _chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    path = _chromium_path()
    if path is None:
        if os.environ.get("CI") or os.environ.get("COINSITE_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required for browser tests: apt-get install -y chromium")
        pytest.skip("Chromium is not installed (apt-get install -y chromium); browser test skipped")
    return {**browser_type_launch_args, "executable_path": path, "args": CHROMIUM_ARGS}


@pytest.fixture
def real_celery_worker(transactional_db):
    """A real Celery worker thread consuming from the configured broker (Redis in CI), or from an
    in-memory broker when none is configured. Tasks are serialised to JSON and go through the
    broker exactly as in production; the test's database rows are visible to the worker because
    the test runs with real transactions."""
    previous = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    _reset_producer_pools(app)
    app.conf.broker_url = settings.CELERY_BROKER_URL or "memory://"
    app.conf.task_always_eager = False
    root_level = logging.root.level  # Celery's test worker sets the root logger to its own level (ERROR)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker
    logging.root.setLevel(root_level)
    app.conf.update(previous)
    _reset_producer_pools(app)


@pytest.fixture
def hung_broker(monkeypatch):
    """The project's Celery app publishing to a Redis broker that accepts connections and never answers (a
    network partition, a paused VM), with the socket timeouts settings give a Redis broker."""
    timeout = settings.CELERY_BROKER_TIMEOUT_SECONDS
    keys = ("broker_url", "task_always_eager", "broker_transport_options")
    previous = {key: app.conf[key] for key in keys}
    with hung_redis() as server:
        _reset_producer_pools(app)
        monkeypatch.setenv("CELERY_BROKER_URL", server.url)  # Celery reads it before its own broker_url
        app.conf.broker_url = server.url
        app.conf.task_always_eager = False
        app.conf.broker_transport_options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        yield server
        for key, value in previous.items():
            setattr(app.conf, key, value)
        _reset_producer_pools(app)


def _reset_producer_pools(app):
    # An eager apply_async in an earlier test opens producer pools on the broker configured then;
    # Celery keeps them, so without this the tasks of a worker test could go to another broker.
    app._pool = None
    app.amqp._producer_pool = None
