"""A profile country change needs the sudo re-check, is recorded, and reaches money rules only after
a 30-day cooling-off or a staff approval. That the money rules keep the old country meanwhile is tested
in wallet/tests/test_payment_country.py; the approval in admin in backoffice/tests/test_country_changes.py."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from coinsite.accounts import country
from coinsite.accounts.models import CountryChange, CountryChangeStatus
from coinsite.accounts.tasks import country_changes_apply_due
from coinsite.accounts.tests.factories import sudo_fresh
from coinsite.lib import access

PROFILE = reverse("accounts:profile")
Status = CountryChangeStatus

pytestmark = pytest.mark.django_db


def profile_data(**changes):
    return {"display_name": "Alice", "country": "US", "preferred_currency": "USD", **changes}


def stale(client):
    session = client.session
    session[access.SUDO_SESSION_KEY] = 0
    session.save()


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def state(user) -> tuple:
    user.refresh_from_db()
    return user.country, user.display_name, user.preferred_currency, list(CountryChange.objects.values_list("pk"))


def test_a_country_change_without_a_fresh_recheck_changes_nothing(alice_client, alice):
    stale(alice_client)
    before = state(alice)

    response = alice_client.post(PROFILE, profile_data(country="JP", display_name="Someone else"))

    assert response.status_code == 403
    body = response.content.decode()
    assert "Nothing was saved: changing your country needs you to confirm it" in body
    assert "/accounts/confirm/?next=%2Faccounts%2Fprofile%2F%3Fcountry%3DJP" in body
    assert state(alice) == before


def test_after_the_recheck_the_form_comes_back_with_the_country_chosen(alice_client):
    stale(alice_client)

    page = alice_client.get(PROFILE, {"country": "JP"})

    assert '<option value="JP" selected>' in page.content.decode()


def test_the_periodic_task_applies_due_changes(alice):
    CountryChange.objects.create(
        user=alice, from_country="US", to_country="GB", effective_at=timezone.now() - datetime.timedelta(minutes=1)
    )

    assert country_changes_apply_due.delay().get() == 1
    alice.refresh_from_db()
    assert alice.country == "GB"


def test_editing_the_name_keeps_a_pending_change_without_a_recheck(alice_client, alice):
    country.country_change_request(user=alice, country="JP")
    stale(alice_client)

    response = alice_client.post(PROFILE, profile_data(country="JP", display_name="Alice B"))

    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.display_name, alice.country) == ("Alice B", "US")
    assert CountryChange.objects.get().status == Status.PENDING


def test_choosing_the_current_country_withdraws_the_change(alice_client, alice):
    country.country_change_request(user=alice, country="JP")
    stale(alice_client)

    response = alice_client.post(PROFILE, profile_data(country="US"), follow=True)

    change = CountryChange.objects.get()
    assert change.status == Status.CANCELLED and change.decided_at is not None
    assert "your country change was withdrawn" in response.content.decode()
    assert country.country_changes_apply_due(now=change.effective_at) == 0
    alice.refresh_from_db()
    assert alice.country == "US"


def test_another_country_replaces_the_pending_one_and_restarts_the_wait(alice_client, alice):
    first = country.country_change_request(user=alice, country="JP", now=timezone.now() - datetime.timedelta(days=29))
    sudo_fresh(alice_client)

    alice_client.post(PROFILE, profile_data(country="GB"))

    first.refresh_from_db()
    second = country.country_change_pending(alice)
    assert first.status == Status.CANCELLED
    assert (second.to_country, second.from_country) == ("GB", "US")
    assert second.effective_at > timezone.now() + datetime.timedelta(days=29)
    assert country.country_changes_apply_due(now=first.effective_at) == 0


def test_an_unknown_country_is_refused(alice_client, alice):
    sudo_fresh(alice_client)
    before = state(alice)

    response = alice_client.post(PROFILE, profile_data(country="XX"))

    assert response.status_code == 400
    assert state(alice) == before
    with pytest.raises(country.CountryChangeError):
        country.country_change_request(user=alice, country="ZZ")


def test_only_staff_decide(alice, bob):
    change = country.country_change_request(user=alice, country="JP")

    with pytest.raises(country.CountryChangeError):
        country.country_change_approve(change_id=change.pk, staff=bob)
    alice.refresh_from_db()
    assert alice.country == "US"


def test_the_country_code_is_the_stored_code_loaded_deferred_or_just_set(alice):
    alice.country = "KR"
    alice.save()

    deferred = type(alice).objects.only("email").get(pk=alice.pk)
    just_set = type(alice).objects.get(pk=alice.pk)
    just_set.country = "DE"

    assert type(alice).objects.get(pk=alice.pk).country_code == "KR"
    assert deferred.country_code == "KR"  # loaded on first use, as `country` would be
    assert just_set.country_code == "DE"
