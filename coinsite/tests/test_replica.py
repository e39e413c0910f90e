"""The replica router (coinsite/lib/replica.py): lag-tolerant pages read the replica, money and writes the primary.

The `replica` alias here is a second connection to the test database (what a caught-up replica
looks like to Django), or one to a port nothing listens on (a replica that is down).
"""

import socket
import types

import pytest
from django.db import OperationalError, connections, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from coinsite.accounts.models import User
from coinsite.lib import replica
from payouts.selectors import creator_dashboard

pytestmark = pytest.mark.django_db(transaction=True)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def replica_alias(settings, django_db_blocker):
    """A `replica` database (the test database over a second connection) with the router and its middleware."""
    # connections.settings is settings.DATABASES itself: the alias is added, and removed below, in both.
    connections.settings[replica.REPLICA] = {**connections.settings["default"], "TEST": {"MIRROR": "default"}}
    settings.DATABASE_ROUTERS = ["coinsite.lib.replica.ReplicaRouter"]
    settings.REPLICA_MAX_LAG_SECONDS = 5
    settings.REPLICA_CHECK_SECONDS = 60
    replica.health_reset()
    connection = connections[replica.REPLICA]
    # Django's test case refuses connections to aliases the test did not declare, and pytest-django
    # declares the test's databases before this fixture adds `replica`: connect it the unpatched way.
    connection.ensure_connection = types.MethodType(django_db_blocker._real_ensure_connection, connection)
    yield connections.settings[replica.REPLICA]
    connections[replica.REPLICA].close()
    del connections.settings[replica.REPLICA]
    if hasattr(connections._connections, replica.REPLICA):
        delattr(connections._connections, replica.REPLICA)
    replica.health_reset()


@pytest.fixture
def replica_down(replica_alias):
    replica_alias["PORT"] = _closed_port()
    replica_alias["OPTIONS"] = {**replica_alias.get("OPTIONS", {}), "connect_timeout": 2}
    return replica_alias


def _page(request: HttpRequest) -> HttpResponse:
    """A lag-tolerant page: says where its read went."""
    router = replica.ReplicaRouter()
    return HttpResponse(router.db_for_read(User))


lag_tolerant_page = replica.replica_reads(_page)


def _get(view, *, cookies: dict | None = None) -> str:
    request = RequestFactory().get("/creator/")
    request.COOKIES.update(cookies or {})
    return replica.ReplicaMiddleware(view)(request).content.decode()


def test_a_lag_tolerant_page_reads_the_replica(replica_alias):
    assert _get(lag_tolerant_page) == "replica"


def test_any_other_page_reads_the_primary(replica_alias):
    assert _get(_page) == "default"


def test_reads_inside_a_transaction_stay_on_the_primary(replica_alias):
    def page_with_money(request):
        with transaction.atomic():
            return _page(request)

    assert _get(replica.replica_reads(page_with_money)) == "default"


def test_after_a_write_the_request_reads_the_primary(replica_alias):
    def page_that_writes(request):
        replica.ReplicaRouter().db_for_write(User)
        return _page(request)

    assert _get(replica.replica_reads(page_that_writes)) == "default"


def test_a_lagging_replica_is_not_read(replica_alias, settings):
    settings.REPLICA_MAX_LAG_SECONDS = -1  # any lag at all is too much
    assert _get(lag_tolerant_page) == "default"
    assert replica.replica_status()["error"] == "lagging"


def test_a_missing_replica_falls_back_to_the_primary(replica_down):
    assert _get(lag_tolerant_page) == "default"
    assert replica.replica_status() == {
        "configured": True,
        "usable": False,
        "lag_seconds": None,
        "error": "OperationalError",
    }


def test_a_replica_failing_mid_page_is_marked_down_and_the_page_runs_again_on_the_primary(replica_alias):
    runs = []

    def page(request):
        database = replica.ReplicaRouter().db_for_read(User)
        runs.append(database)
        if database == replica.REPLICA:
            raise OperationalError("server closed the connection unexpectedly")
        return HttpResponse(database)

    assert _get(replica.replica_reads(page)) == "default"
    assert runs == ["replica", "default"]
    assert replica.replica_healthy() is False


def test_real_rows_are_read_through_the_replica(replica_alias, alice):
    def page(request):
        return HttpResponse(User.objects.get(pk=alice.pk).email)

    with CaptureQueriesContext(connections[replica.REPLICA]) as queries:
        assert _get(replica.replica_reads(page)) == alice.email
    assert any("accounts_user" in query["sql"] for query in queries.captured_queries)


# --- Read-your-writes ------------------------------------------------------------------------------


def test_an_unsafe_request_pins_the_browser_to_its_write_position(replica_alias):
    request = RequestFactory().post("/creator/payouts/request/")
    response = replica.ReplicaMiddleware(lambda request: HttpResponse("ok"))(request)
    cookie = response.cookies[replica.PIN_COOKIE]
    assert replica._LSN_SHAPE.fullmatch(cookie.value)
    assert cookie["max-age"] == 60
    assert cookie["httponly"] is True


def test_a_page_waits_on_the_primary_until_the_replica_has_replayed_the_browsers_write(replica_alias):
    assert _get(lag_tolerant_page, cookies={replica.PIN_COOKIE: "FFFFFFFF/FFFFFFFF"}) == "default"
    assert _get(lag_tolerant_page, cookies={replica.PIN_COOKIE: "0/0"}) == "replica"


def test_a_malformed_pin_cookie_is_ignored(replica_alias):
    assert _get(lag_tolerant_page, cookies={replica.PIN_COOKIE: "0/0'; DROP TABLE x; --"}) == "replica"


def test_without_a_replica_nothing_changes(settings):
    assert replica.replica_configured() is False
    assert _get(lag_tolerant_page) == "default"


def test_the_creator_dashboard_reads_all_of_itself_from_the_replica_in_one_snapshot(replica_alias, bob):
    """Its snapshot is a transaction on the replica: a read of the primary meanwhile (the clawbacks were one) would
    see a later moment than the rest of the page."""

    def dashboard_page(request):
        creator_dashboard(bob)
        return HttpResponse("ok")

    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections[replica.REPLICA]) as secondary,
    ):
        assert _get(replica.replica_reads(dashboard_page)) == "ok"
        on_primary, on_replica = (
            [q["sql"] for q in primary.captured_queries],
            [q["sql"] for q in secondary.captured_queries],
        )

    assert on_primary == []
    page = on_replica[on_replica.index("BEGIN") :]  # after the router's health check of the replica
    assert page[1] == "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
    assert page[-1] == "COMMIT"
    assert any("clawback" in sql for sql in page)
