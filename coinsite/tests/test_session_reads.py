"""The session and the signed-in user, read on every request, are prepared statements with Django's answers."""

import datetime

import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from coinsite.accounts import models as account_models
from coinsite.accounts.models import User
from coinsite.lib import sessions
from coinsite.lib.sessions import SessionStore


def test_a_signed_in_page_reads_its_session_and_user_with_the_prepared_statements(client, alice):
    client.force_login(alice)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("wallet:index"))

    assert response.status_code == 200
    assert response.context["user"] == alice
    assert _runs(queries, sessions._SQL) == 1
    assert _runs(queries, account_models._USER_BY_PK_SQL) == 1


def _runs(queries: CaptureQueriesContext, sql: str) -> int:
    """How many captured queries ran `sql` (server-side bound ones are logged as "QUERY = '<sql>' - PARAMS = ...")."""
    return sum(query["sql"].startswith(f"QUERY = '{sql}'") for query in queries.captured_queries)


def test_the_site_uses_the_prepared_session_engine():
    assert settings.SESSION_ENGINE == "coinsite.lib.sessions"


@pytest.mark.django_db
def test_a_stored_session_loads_with_its_data():
    store = SessionStore()
    store["answer"] = 42
    store.create()

    loaded = SessionStore(store.session_key)

    assert loaded["answer"] == 42
    assert loaded.session_key == store.session_key


@pytest.mark.django_db
def test_an_expired_session_loads_empty_and_forgets_its_key():
    store = SessionStore()
    store["answer"] = 42
    store.create()
    Session.objects.filter(session_key=store.session_key).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )

    loaded = SessionStore(store.session_key)

    assert loaded.get("answer") is None
    assert loaded.session_key is None


@pytest.mark.django_db
def test_an_unknown_or_malformed_key_loads_empty_without_a_query():
    unknown = SessionStore("x" * 32)
    assert unknown.get("answer") is None
    assert unknown.session_key is None

    with CaptureQueriesContext(connection) as queries:
        assert SessionStore("short").get("answer") is None
    assert queries.captured_queries == []


def test_user_by_pk_is_the_orm_row(alice):
    with CaptureQueriesContext(connection) as queries:
        read = User.objects.get(pk=alice.pk)

    assert len(queries.captured_queries) == _runs(queries, account_models._USER_BY_PK_SQL) == 1
    orm = User.objects.filter(pk=alice.pk).first()
    assert read.pk == alice.pk
    assert read._state.adding is False
    assert read._state.db == "default"
    assert {field.attname: getattr(read, field.attname) for field in User._meta.concrete_fields} == {
        field.attname: getattr(orm, field.attname) for field in User._meta.concrete_fields
    }


@pytest.mark.django_db
@pytest.mark.parametrize("pk", [0, -1, 2**63 - 1, 2**63, -(2**63) - 1, 10**30])
def test_user_by_a_missing_or_out_of_range_pk_does_not_exist(pk):
    with pytest.raises(User.DoesNotExist):
        User.objects.get(pk=pk)


def test_other_user_lookups_are_the_orms(alice):
    assert User.objects.get(pk=str(alice.pk)) == alice
    assert User.objects.get(email=alice.email) == alice
    assert User.objects.get(pk=alice.pk, is_active=True) == alice
    with pytest.raises(User.DoesNotExist):
        User.objects.get(pk=alice.pk, is_active=False)


@pytest.mark.django_db
def test_a_sessions_text_decodes_once_per_process_and_each_load_gets_its_own_data(monkeypatch):
    sessions._decoded.clear()
    store = SessionStore()
    store["cart"] = {"coins": 700}
    store.create()
    verified = []
    original = SessionBase.decode
    monkeypatch.setattr(SessionBase, "decode", lambda self, text: verified.append(text) or original(self, text))

    first = SessionStore(store.session_key)
    first["cart"]["coins"] = 1  # changed in this request only, never saved
    second = SessionStore(store.session_key)

    assert second["cart"] == {"coins": 700}
    assert first["cart"] == {"coins": 1}
    assert len(verified) == 1  # the second load's text was already verified


@pytest.mark.django_db
def test_a_changed_or_tampered_session_text_is_verified_again_and_a_bad_one_never_remembered(monkeypatch):
    sessions._decoded.clear()
    store = SessionStore()
    store["answer"] = 42
    store.create()
    assert SessionStore(store.session_key)["answer"] == 42
    store["answer"] = 43
    store.save()  # a new text: decoded afresh

    assert SessionStore(store.session_key)["answer"] == 43
    row = Session.objects.get(session_key=store.session_key)
    tampered = row.session_data[:-3] + ("AAA" if not row.session_data.endswith("AAA") else "BBB")
    Session.objects.filter(session_key=store.session_key).update(session_data=tampered)

    assert SessionStore(store.session_key).get("answer") is None  # the signature fails, as Django's
    assert SessionStore(store.session_key).get("answer") is None  # and again: a failure is not remembered
    assert tampered not in sessions._decoded


@pytest.mark.django_db
def test_the_decoded_texts_kept_are_bounded(monkeypatch):
    sessions._decoded.clear()
    monkeypatch.setattr(sessions, "DECODED_LIMIT", 3)
    for answer in range(5):
        store = SessionStore()
        store["answer"] = answer
        store.create()
        assert SessionStore(store.session_key)["answer"] == answer

    assert 1 <= len(sessions._decoded) <= 3
