"""Small things a new user noticed: a favicon, "Contact support" that goes somewhere, and one wording
for logging in."""

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_favicon_ico_redirects_to_the_static_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/img/favicon.ico"
    path = finders.find("img/favicon.ico")
    assert path is not None
    assert Path(path).read_bytes()[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_favicon_ico_refuses_other_methods(client):
    assert client.post("/favicon.ico").status_code == 405


def test_every_page_links_its_icons(client):
    page = client.get(reverse("home")).content.decode()

    for name in ("img/favicon.ico", "img/logo.svg", "img/apple-touch-icon.png"):
        assert f'href="/static/{name}"' in page
        assert finders.find(name) is not None


def test_contact_support_links_to_the_support_address(client, alice, settings):
    settings.SUPPORT_EMAIL = "help@coinsite.example"
    pages = [client.get(reverse("account_login"))]
    client.force_login(alice)
    pages += [client.get(reverse("home")), client.get(reverse("wallet:index"))]

    for response in pages:
        page = response.content.decode()
        assert '<a href="mailto:help@coinsite.example" data-testid="contact-support">Contact support</a>' in page


def test_a_frozen_wallet_says_where_to_contact_support(client, alice, charlie, settings):
    from wallet.staff import wallet_freeze  # noqa: PLC0415 (the staff service, only here)

    settings.SUPPORT_EMAIL = "help@coinsite.example"
    wallet_freeze(user=alice, staff=charlie, reason="Checking a payment.")
    client.force_login(alice)

    wallet = client.get(reverse("wallet:index")).content.decode()
    recharge = client.get(reverse("wallet:recharge")).content.decode()

    assert '<a href="mailto:help@coinsite.example">Contact support</a> to have it lifted.' in wallet
    assert 'href="mailto:help@coinsite.example">Contact support</a></p>' in recharge


@pytest.mark.parametrize("url_name", ["account_login", "account_signup"])
def test_logging_in_is_called_log_in_everywhere(client, url_name):
    page = client.get(reverse(url_name)).content.decode()
    text = re.sub(r"<[^>]+>", " ", page)

    assert re.search(r"sign ?in", text, re.IGNORECASE) is None
    assert "Log in" in text


def test_the_log_out_page_says_log_out(client, alice):
    client.force_login(alice)

    text = re.sub(r"<[^>]+>", " ", client.get(reverse("account_logout")).content.decode())

    assert re.search(r"sign ?out", text, re.IGNORECASE) is None
    assert "Log out" in text
