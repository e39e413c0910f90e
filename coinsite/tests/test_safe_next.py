"""Every `next` goes through coinsite.lib.urls.safe_next: only same-site paths are followed."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from coinsite.accounts.tests.factories import PASSWORD, enroll_totp, totp_code
from coinsite.lib.urls import safe_next
from gifting.models import GiftingPreferences

HOSTILE_NEXT = [
    "{}",
    "null",
    "0",
    "[]",
    "wallet:index",
    "accounts:security",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "https://evil.example/",
    "http://testserver/wallet/",
    "javascript:alert(1)",
    "/wallet/\t",
    "/wallet/\n/x",
    " /wallet/",
    "/wallet/ x",
    '/wallet/"onmouseover',
    "/wallet/<script>",
    "/" + "a" * 3000,
    "",
]


@pytest.mark.parametrize("value", HOSTILE_NEXT)
def test_safe_next_refuses_anything_but_a_same_site_path(value):
    request = RequestFactory().get("/")

    assert safe_next(request, value, "/fallback/") == "/fallback/"


@pytest.mark.parametrize("value", [None, 0, [], {}, ["/wallet/"]])
def test_safe_next_refuses_values_that_are_not_strings(value):
    assert safe_next(RequestFactory().get("/"), value, "/fallback/") == "/fallback/"


@pytest.mark.parametrize("value", ["/", "/wallet/", "/live/3/?tab=gifts&x=%2F%2F", "/creator/statements/2026-01/"])
def test_safe_next_keeps_same_site_paths(value):
    assert safe_next(RequestFactory().get("/"), value, "/fallback/") == value


@pytest.mark.django_db
# The form strips surrounding whitespace first (" /wallet/" is then simply "/wallet/").
@pytest.mark.parametrize("value", [value for value in HOSTILE_NEXT if value.strip() != "/wallet/"])
def test_gifting_preferences_never_follows_a_hostile_next(client, alice, value):
    client.force_login(alice)

    page = client.get(reverse("gifting:preferences"), {"next": value})
    saved = client.post(reverse("gifting:preferences"), {"hide_from_leaderboards": "on", "next": value})

    assert page.status_code == 200
    assert saved.status_code == 302 and saved.url == reverse("gifting:index")
    assert GiftingPreferences.objects.get(user=alice).hide_from_leaderboards is True


@pytest.mark.django_db
@pytest.mark.parametrize("value", HOSTILE_NEXT)
def test_sudo_confirm_never_follows_a_hostile_next(client, alice, value):
    client.force_login(alice)

    page = client.get(reverse("accounts:confirm"), {"next": value})
    confirmed = client.post(reverse("accounts:confirm"), {"password": PASSWORD, "next": value})

    assert page.status_code == 200
    assert 'name="next" value=""' in page.content.decode()
    assert confirmed.status_code == 302 and confirmed.url == reverse("accounts:security")


@pytest.mark.django_db
def test_sudo_confirm_follows_a_same_site_next(client, alice):
    client.force_login(alice)

    confirmed = client.post(reverse("accounts:confirm"), {"password": PASSWORD, "next": "/wallet/?page=2"})

    assert confirmed.status_code == 302 and confirmed.url == "/wallet/?page=2"


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["wallet:index", "//evil.example/", "{}"])
def test_login_never_follows_a_hostile_next(client, alice, value):
    response = client.post(f"{reverse('account_login')}?next={value}", {"login": alice.email, "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("home")


@pytest.mark.django_db
def test_login_follows_a_same_site_next(client, alice):
    response = client.post(
        f"{reverse('account_login')}?next=/wallet/", {"login": alice.email, "password": PASSWORD, "next": "/wallet/"}
    )

    assert response.status_code == 302 and response.url == "/wallet/"


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["wallet:index", "//evil.example/", "https://evil.example/"])
def test_admin_login_passes_on_only_a_safe_next(client, charlie, value):
    device, _ = enroll_totp(charlie)
    client.post(reverse("account_login"), {"login": charlie.email, "password": PASSWORD})
    client.post(reverse("accounts:two-factor-login"), {"code": totp_code(device)})

    response = client.get(reverse("admin:login"), {"next": value})

    assert response.status_code == 302
    assert response.url == f"{reverse('accounts:confirm')}?next=%2Fadmin%2F"
