"""Removing a payout method needs a fresh 2FA check, like adding one."""

import pytest
from django.urls import reverse

from coinsite.accounts.tests.factories import enroll_totp, next_totp_code
from coinsite.lib import access
from payouts.models import PayoutMethod
from payouts.tests.support import add_method

pytestmark = pytest.mark.django_db


def stale_session(client):
    session = client.session
    session[access.SUDO_SESSION_KEY] = 0
    session.save()


def test_without_two_factor_a_method_cannot_be_removed(client, bob):
    method = add_method(bob)
    client.force_login(bob)

    response = client.post(reverse("payouts:method-remove", args=[method.pk]))

    assert response.status_code == 302 and response["Location"] == reverse("accounts:security")
    method.refresh_from_db()
    assert method.retired_at is None


def test_removing_a_method_needs_a_fresh_code_then_removes_it(client, bob):
    device, _ = enroll_totp(bob)
    method = add_method(bob)
    client.force_login(bob)
    stale_session(client)

    stale = client.post(reverse("payouts:method-remove", args=[method.pk]))
    method.refresh_from_db()
    assert stale.status_code == 302 and stale["Location"].startswith(reverse("accounts:confirm"))
    assert method.retired_at is None

    confirmed = client.post(reverse("accounts:confirm"), {"code": next_totp_code(device), "next": "/creator/"})
    removed = client.post(reverse("payouts:method-remove", args=[method.pk]))

    assert confirmed.status_code == 302
    assert removed.status_code == 302 and removed["Location"] == reverse("payouts:index")
    assert PayoutMethod.objects.get(pk=method.pk).retired_at is not None


def test_a_password_alone_does_not_open_removal_for_a_creator_with_two_factor(client, bob):
    enroll_totp(bob)
    method = add_method(bob)
    client.force_login(bob)
    stale_session(client)

    client.post(reverse("accounts:confirm"), {"password": "correct-horse-battery", "next": "/creator/"})
    response = client.post(reverse("payouts:method-remove", args=[method.pk]))

    assert response["Location"].startswith(reverse("accounts:confirm"))
    method.refresh_from_db()
    assert method.retired_at is None
