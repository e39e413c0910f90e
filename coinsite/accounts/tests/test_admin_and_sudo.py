import time

import pytest
from django.urls import reverse

from coinsite.accounts.tests.factories import PASSWORD, enroll_totp, totp_code
from coinsite.lib import access

ADMIN = reverse("admin:index")


@pytest.mark.django_db
def test_staff_without_a_device_are_sent_to_enrollment_first(client, charlie):
    client.force_login(charlie)

    for url in (ADMIN, reverse("home"), reverse("wallet:index")):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("accounts:enroll"))


@pytest.mark.django_db
def test_admin_refuses_staff_whose_session_is_not_verified(client, charlie):
    enroll_totp(charlie)
    client.force_login(charlie)  # a session that never passed the 2FA step

    response = client.get(ADMIN)

    assert response.status_code == 302
    assert "Operations" not in client.get(ADMIN, follow=True).content.decode()
    changelist = client.get(reverse("admin:accounts_user_changelist"))
    assert changelist.status_code == 302


@pytest.mark.django_db
def test_admin_opens_for_staff_after_logging_in_with_a_code(client, charlie):
    device, _ = enroll_totp(charlie)
    client.post(reverse("account_login"), {"login": charlie.email, "password": PASSWORD})
    client.post(reverse("accounts:two-factor-login"), {"code": totp_code(device)})

    response = client.get(ADMIN)

    assert response.status_code == 200
    assert "Coinsite staff" in response.content.decode()


@pytest.mark.django_db
def test_admin_refuses_verified_non_staff(client, alice):
    device, _ = enroll_totp(alice)
    client.post(reverse("account_login"), {"login": alice.email, "password": PASSWORD})
    client.post(reverse("accounts:two-factor-login"), {"code": totp_code(device)})

    assert client.get(ADMIN).status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["account_change_password", "account_email", "accounts:enroll"])
def test_sensitive_pages_need_a_recent_recheck(client, alice, url_name):
    client.force_login(alice)
    url = reverse(url_name)

    response = client.get(url)

    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:confirm"))

    confirmed = client.post(reverse("accounts:confirm"), {"password": PASSWORD, "next": url})

    assert confirmed.status_code == 302 and confirmed.url == url
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_password_change_is_refused_with_a_stale_recheck(client, alice):
    client.force_login(alice)
    session = client.session
    session[access.SUDO_SESSION_KEY] = int(time.time()) - 1
    session.save()

    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "another-long-pass", "password2": "another-long-pass"},
    )

    assert response.status_code == 302 and response.url.startswith(reverse("accounts:confirm"))
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


@pytest.mark.django_db
def test_wrong_password_does_not_open_sudo_mode(client, alice):
    client.force_login(alice)

    response = client.post(reverse("accounts:confirm"), {"password": "nope", "next": "/accounts/email/"})

    assert response.status_code == 200
    assert "not right" in response.content.decode()
    assert not client.session.get(access.SUDO_SESSION_KEY)


@pytest.mark.django_db
def test_with_two_factor_the_recheck_needs_a_code_not_the_password(client, alice):
    device, _ = enroll_totp(alice)
    client.force_login(alice)

    by_password = client.post(reverse("accounts:confirm"), {"password": PASSWORD})
    assert by_password.status_code == 200
    assert not client.session.get(access.SUDO_SESSION_KEY)

    by_code = client.post(reverse("accounts:confirm"), {"code": totp_code(device)})
    assert by_code.status_code == 302
    assert client.session[access.SUDO_SESSION_KEY] > time.time()


@pytest.mark.django_db
def test_confirm_ignores_an_offsite_next_url(client, alice):
    client.force_login(alice)

    response = client.post(reverse("accounts:confirm"), {"password": PASSWORD, "next": "https://evil.example/"})

    assert response.status_code == 302
    assert response.url == reverse("accounts:security")


@pytest.mark.django_db
def test_logging_in_opens_sudo_mode_for_a_short_while(client, alice):
    client.post(reverse("account_login"), {"login": alice.email, "password": PASSWORD})

    assert client.get(reverse("account_change_password")).status_code == 200
