import re

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from coinsite import views
from coinsite.accounts.models import User


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/accounts/signup/", "/live/"])
def test_public_pages_render_in_the_site_frame(client, url):
    response = client.get(url)

    assert response.status_code == 200
    body = response.content.decode()
    for label in ("Live", "Wallet", "Creator", "Account"):
        assert f">{label}</a>" in body
    assert '<link rel="stylesheet" href="/static/css/site.css">' in body
    assert "https://" not in body.split("<main")[0]  # nothing loaded from another origin


@pytest.mark.django_db
def test_pages_send_a_strict_content_security_policy(client):
    policy = client.get("/").headers["Content-Security-Policy"]

    assert "default-src 'self'" in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


@pytest.mark.django_db
def test_unknown_page_uses_the_404_template(client):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert "Back to the home page" in response.content.decode()


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_server_error_uses_the_500_template(client):
    response = views.error_500(client.get("/").wsgi_request)

    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()


@pytest.mark.django_db
def test_403_and_400_templates_render(rf, alice):
    request = rf.get("/")
    request.user = alice
    assert "Not allowed" in views.error_403(request).content.decode()
    assert "Bad request" in views.error_400(request).content.decode()


@pytest.mark.django_db
def test_wallet_and_creator_pages_require_login(client):
    for name in ("wallet:index", "payouts:index"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))


@pytest.mark.django_db
def test_profile_can_be_edited_and_rejects_bad_input(client, alice):
    client.force_login(alice)

    bad = client.post(reverse("accounts:profile"), {"display_name": "", "country": "US", "preferred_currency": "USD"})
    assert bad.status_code == 400
    alice.refresh_from_db()
    assert alice.display_name == "Alice"

    client.post(reverse("accounts:profile"), {"display_name": "Alice B", "country": "US", "preferred_currency": "JPY"})
    alice.refresh_from_db()
    assert (alice.display_name, alice.country, alice.preferred_currency) == ("Alice B", "US", "JPY")
    # A new country needs the sudo re-check and a cooling-off: see accounts/tests/test_country_change.py.


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_logins(capsys):
    call_command("seed_demo")
    call_command("seed_demo")

    out = capsys.readouterr().out
    assert "viewer@coinsite.local" in out and "staffdemo01" in out
    assert User.objects.filter(email__endswith="@coinsite.local").count() == 3
    staff = User.objects.get(email="staff@coinsite.local")
    assert staff.is_staff and staff.totpdevice_set.filter(confirmed=True).count() == 1


@pytest.mark.django_db
def test_the_page_says_which_language_it_is_in(client, settings):
    settings.LANGUAGES = [("en", "English"), ("de", "German")]

    english = client.get("/", headers={"accept-language": "en"}).content.decode()
    german = client.get("/", headers={"accept-language": "de"}).content.decode()

    assert english.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert german.startswith('<!DOCTYPE html>\n<html lang="de">')


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "description"),
    [
        ("/", "Buy coins in your own currency and send gifts to the creators you watch live."),
        ("/live/", "Creators streaming live on Coinsite right now"),
        ("/accounts/login/", "Log in to Coinsite or create an account"),
        ("/no-such-page/", "Coinsite: buy coins in your own currency, send gifts to the creators you watch live"),
    ],
)
def test_every_page_has_a_meta_description_key_pages_their_own(client, url, description):
    body = client.get(url).content.decode()

    assert re.search(rf'<meta name="description" content="{re.escape(description)}[^"]*">', body)
