import re

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.urls import reverse
from django_countries import countries

from coinsite.accounts.models import User
from coinsite.lib.currencies import CURRENCIES

SIGNUP = {
    "email": "dana@example.com",
    "display_name": "Dana",
    "country": "DE",
    "birth_date": "1999-04-02",
    "preferred_currency": "EUR",
    "password1": "a-long-unusual-passphrase",
    "password2": "a-long-unusual-passphrase",
}


def _verification_link(message) -> str:
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", message.body)
    assert link is not None, message.body
    return link.group(1)


@pytest.mark.django_db
def test_signup_then_verify_email_then_log_in(client, mailoutbox):
    response = client.post(reverse("account_signup"), SIGNUP)

    assert response.status_code == 302
    assert response.url == reverse("account_email_verification_sent")
    user = User.objects.get(email="dana@example.com")
    assert (user.display_name, user.country, user.preferred_currency) == ("Dana", "DE", "EUR")
    assert str(user.birth_date) == "1999-04-02"
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["dana@example.com"]

    # Mandatory verification: the password alone does not let an unverified user in.
    client.post(reverse("account_login"), {"login": SIGNUP["email"], "password": SIGNUP["password1"]})
    assert "_auth_user_id" not in client.session

    link = _verification_link(mailoutbox[-1])
    assert client.get(link).status_code == 200
    assert client.post(link).status_code == 302
    assert EmailAddress.objects.get(user=user).verified

    response = client.post(reverse("account_login"), {"login": SIGNUP["email"], "password": SIGNUP["password1"]})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("birth_date", "2030-01-01", "cannot be in the future"),
        ("birth_date", "2020-01-01", "at least 13"),
        ("display_name", "   ", "This field is required"),
        ("country", "XX", "Select a valid choice"),
        ("preferred_currency", "CHF", "Select a valid choice"),
        ("password2", "something-else-entirely", "same password"),
    ],
)
def test_signup_with_bad_input_explains_and_creates_nothing(client, mailoutbox, field, value, message):
    response = client.post(reverse("account_signup"), {**SIGNUP, field: value})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.exists()
    assert mailoutbox == []


@pytest.mark.django_db
def test_login_with_wrong_password_is_rate_limited(client, alice):
    for _ in range(5):
        client.post(reverse("account_login"), {"login": alice.email, "password": "wrong-password"})

    response = client.post(reverse("account_login"), {"login": alice.email, "password": "correct-horse-battery"})

    assert "_auth_user_id" not in client.session
    assert response.status_code == 429 or "Too many failed login attempts" in response.content.decode()


@pytest.mark.django_db
def test_password_reset_sends_a_working_link(client, alice, mailoutbox):
    client.post(reverse("account_reset_password"), {"email": alice.email})

    assert len(mailoutbox) == 1
    pattern = r"https?://[^/\s]+(/accounts/password/reset/key/[^\s]+/)"
    link = re.search(pattern, mailoutbox[0].body).group(1)
    form_url = client.get(link).url  # allauth moves the key into the session and redirects
    response = client.post(form_url, {"password1": "brand-new-passphrase", "password2": "brand-new-passphrase"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("brand-new-passphrase")


@pytest.mark.django_db
def test_logout_ends_the_session(client, alice):
    client.force_login(alice)

    client.post(reverse("account_logout"))

    assert "_auth_user_id" not in client.session


def test_countries_and_currencies_come_from_one_list_each(client):
    html = client.get(reverse("account_signup")).content.decode()

    assert '<option value="NZ">New Zealand</option>' in html  # django-countries: every country
    assert '<option value="KRW">South Korean Won (KRW)</option>' in html  # coinsite.lib.currencies
    # The footer's language chooser lists the languages (coinsite.settings.LANGUAGES).
    assert html.count("<option value=") == len(countries) + len(CURRENCIES) + len(settings.LANGUAGES)
