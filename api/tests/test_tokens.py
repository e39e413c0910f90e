"""Personal access tokens: made behind the sudo re-check, shown once, stored hashed, scoped, expiring, revocable."""

import datetime

import pytest
from django.utils import timezone

from api.models import AccessToken, Scope
from api.tokens import TokenError, token_create, token_hash
from coinsite.accounts.tests.factories import sudo_fresh

pytestmark = pytest.mark.django_db

TOKENS_URL = "/accounts/api-tokens/"


def test_token_page_needs_the_sudo_recheck(client, alice):
    client.force_login(alice)

    response = client.get(TOKENS_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/confirm/?next=")
    response = client.post(TOKENS_URL, {"name": "Bot", "scopes": ["wallet:read"], "expires_in_days": 30})
    assert response.status_code == 302
    assert AccessToken.objects.count() == 0


def test_a_token_is_shown_once_and_only_its_hash_is_stored(client, alice, django_assert_max_num_queries):
    client.force_login(alice)
    sudo_fresh(client)

    response = client.post(
        TOKENS_URL, {"name": "Alert box", "scopes": ["wallet:read", "live:read"], "expires_in_days": 30}
    )

    assert response.status_code == 200
    plaintext = response.context["new_token"].plaintext
    assert plaintext.startswith("cst_") and len(plaintext) > 40
    assert plaintext in response.content.decode()
    token = AccessToken.objects.get()
    assert (token.user, token.name, token.scopes) == (alice, "Alert box", ["live:read", "wallet:read"])
    assert token.token_hash == token_hash(plaintext) and plaintext not in token.token_hash
    assert token.expires_at - token.created_at == datetime.timedelta(days=30)
    # And the list never shows it again, only its prefix
    with django_assert_max_num_queries(8):
        page = client.get(TOKENS_URL).content.decode()
    assert plaintext not in page
    assert token.prefix in page and "Alert box" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "scopes": ["wallet:read"], "expires_in_days": 30}, "This field is required."),
        ({"name": "Bot", "scopes": [], "expires_in_days": 30}, "Choose at least one scope."),
        ({"name": "Bot", "scopes": ["payouts:write"], "expires_in_days": 30}, "is not one of the available choices"),
        ({"name": "Bot", "scopes": ["wallet:read"], "expires_in_days": 9999}, "is not one of the available choices"),
    ],
)
def test_a_bad_token_form_is_refused_and_writes_nothing(client, alice, data, message):
    client.force_login(alice)
    sudo_fresh(client)

    response = client.post(TOKENS_URL, data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert AccessToken.objects.count() == 0


def test_the_service_refuses_unknown_scopes_and_periods(alice):
    with pytest.raises(TokenError):
        token_create(user=alice, name="Bot", scopes=["payouts:request"], expires_in_days=30)
    with pytest.raises(TokenError):
        token_create(user=alice, name="Bot", scopes=["wallet:read"], expires_in_days=3650)
    assert AccessToken.objects.count() == 0


def test_revoking_stops_the_token_at_once(client, api, alice, make_token):
    plaintext = make_token(alice, Scope.WALLET_READ)
    assert api.get("/wallet", plaintext).status_code == 200
    client.force_login(alice)
    sudo_fresh(client)

    response = client.post(f"{TOKENS_URL}{AccessToken.objects.get().pk}/revoke/")

    assert response.status_code == 302
    client.logout()
    refused = api.get("/wallet", plaintext)
    assert refused.status_code == 401
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "token_revoked"


def test_nobody_revokes_another_users_token(client, alice, bob, make_token):
    make_token(alice, Scope.WALLET_READ)
    token = AccessToken.objects.get()
    client.force_login(bob)
    sudo_fresh(client)

    client.post(f"{TOKENS_URL}{token.pk}/revoke/")

    token.refresh_from_db()
    assert token.revoked_at is None


def test_an_expired_token_is_refused(api, alice, make_token):
    plaintext = make_token(alice, Scope.WALLET_READ)
    an_hour_ago = timezone.now() - datetime.timedelta(hours=1)
    AccessToken.objects.update(created_at=an_hour_ago - datetime.timedelta(days=30), expires_at=an_hour_ago)

    response = api.get("/wallet", plaintext)

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"


@pytest.mark.parametrize("header", ["Bearer cst_not-a-real-token", "Bearer nope", "Bearer " + "x" * 5000])
def test_unknown_tokens_are_refused(client, alice, header):
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json()["code"] == "token_invalid"


def test_last_used_is_recorded_at_most_once_a_minute(api, alice, make_token, django_assert_num_queries):
    plaintext = make_token(alice, Scope.WALLET_READ)
    api.get("/me", plaintext)
    first = AccessToken.objects.get().last_used_at
    assert first is not None

    with django_assert_num_queries(1):  # the token lookup only: no write
        api.get("/me", plaintext)

    assert AccessToken.objects.get().last_used_at == first


def test_a_deactivated_user_cannot_use_their_tokens(api, alice, make_token):
    plaintext = make_token(alice, Scope.WALLET_READ)
    alice.is_active = False
    alice.save(update_fields=["is_active"])

    assert api.get("/me", plaintext).json()["code"] == "token_invalid"
