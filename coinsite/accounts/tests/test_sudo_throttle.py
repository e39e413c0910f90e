"""The sudo re-check by password is throttled like the 2FA code check: a burst of guesses cannot get through."""

import datetime
import threading
import time

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from coinsite.accounts import sudo
from coinsite.accounts.models import SudoThrottle
from coinsite.accounts.tests.factories import PASSWORD
from coinsite.lib import access

CONFIRM = reverse("accounts:confirm")


def sudo_is_fresh(client) -> bool:
    return client.session.get(access.SUDO_SESSION_KEY, 0) > time.time()


def stale_session(client, alice):
    client.force_login(alice)
    session = client.session
    session[access.SUDO_SESSION_KEY] = 0
    session.save()


@pytest.mark.django_db
def test_thirty_wrong_passwords_then_the_right_one_is_not_accepted(client, alice):
    stale_session(client, alice)

    wrong = [client.post(CONFIRM, {"password": f"guess-{n}", "next": "/wallet/"}) for n in range(30)]
    right = client.post(CONFIRM, {"password": PASSWORD, "next": "/wallet/"})

    assert all(response.status_code == 200 for response in wrong)
    assert right.status_code == 200
    assert "Too many wrong passwords. Wait" in right.content.decode()
    assert not sudo_is_fresh(client)
    assert SudoThrottle.objects.get(user=alice).failure_count == 31


@pytest.mark.django_db
def test_the_first_wrong_passwords_are_free_and_the_right_one_resets_the_count(client, alice):
    stale_session(client, alice)

    wrong = [client.post(CONFIRM, {"password": "nope"}) for _ in range(sudo.FREE_PASSWORD_FAILURES - 1)]
    right = client.post(CONFIRM, {"password": PASSWORD})

    assert all("That password is not right." in response.content.decode() for response in wrong)
    assert right.status_code == 302 and sudo_is_fresh(client)
    assert SudoThrottle.objects.get(user=alice).failure_count == 0


def test_each_failure_past_the_free_ones_doubles_the_wait_up_to_an_hour():
    now = timezone.now()
    waits = [
        sudo._seconds_to_wait(SudoThrottle(failure_count=count, last_failure_at=now), now) for count in range(0, 20)
    ]

    assert waits[:3] == [0, 0, 0]
    assert waits[3:8] == [1, 2, 4, 8, 16]
    assert waits[-1] == sudo.MAX_PASSWORD_WAIT_SECONDS


@pytest.mark.django_db
def test_the_right_password_works_again_once_the_wait_is_over(alice):
    start = timezone.now()
    for n in range(sudo.FREE_PASSWORD_FAILURES + 2):
        with pytest.raises(sudo.RecheckRefused):
            sudo.password_recheck(user=alice, password="nope", now=start + datetime.timedelta(seconds=10 * n))
    last_failure = SudoThrottle.objects.get(user=alice).last_failure_at

    with pytest.raises(sudo.RecheckRefused, match="Wait 4 seconds"):
        sudo.password_recheck(user=alice, password=PASSWORD, now=last_failure)
    sudo.password_recheck(user=alice, password=PASSWORD, now=last_failure + datetime.timedelta(seconds=16))

    assert SudoThrottle.objects.get(user=alice).failure_count == 0


@pytest.mark.django_db
def test_a_long_wait_is_told_in_minutes(alice):
    SudoThrottle.objects.create(user=alice, failure_count=40, last_failure_at=timezone.now())

    with pytest.raises(sudo.RecheckRefused, match="Wait 60 minutes"):
        sudo.password_recheck(user=alice, password=PASSWORD)


@pytest.mark.django_db
def test_the_throttle_is_per_user(client, alice, bob):
    SudoThrottle.objects.create(user=alice, failure_count=40, last_failure_at=timezone.now())
    stale_session(client, bob)

    response = client.post(CONFIRM, {"password": PASSWORD})

    assert response.status_code == 302 and sudo_is_fresh(client)


@pytest.mark.django_db(transaction=True)
def test_concurrent_guesses_are_each_counted(alice):
    barrier = threading.Barrier(8)
    refusals = []

    def guess(n):
        barrier.wait()
        try:
            sudo.password_recheck(user=alice, password=f"guess-{n}")
        except sudo.RecheckRefused as refusal:
            refusals.append(str(refusal))
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(refusals) == 8
    assert SudoThrottle.objects.get(user=alice).failure_count == 8
    with pytest.raises(sudo.RecheckRefused, match="Too many wrong passwords"):
        sudo.password_recheck(user=alice, password=PASSWORD)
