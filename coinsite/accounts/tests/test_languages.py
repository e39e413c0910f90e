"""Which language and time zone a person sees: their saved choice, else the browser's Accept-Language (or
the footer chooser's cookie), else English; URLs never change. Choosing a language (footer, profile) and a
time zone (profile)."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from coinsite.accounts.models import User
from coinsite.accounts.tests.factories import make_user
from coinsite.lib.l10n import time_zone_names

pytestmark = pytest.mark.django_db

HOME = reverse("home")
PROFILE = reverse("accounts:profile")
CHOOSER = reverse("accounts:language")
COOKIE = settings.LANGUAGE_COOKIE_NAME


def html_lang(response) -> str:
    head = response.content.decode()[:200]
    return head.split('<html lang="', 1)[1].split('"', 1)[0]


def profile_data(**changes):
    return {"display_name": "Alice", "country": "US", "preferred_currency": "USD", **changes}


# --- Where the language comes from ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
        ("de", "de"),
        ("es-MX,es;q=0.9", "es"),
        ("it-IT", "it"),
        ("nl-BE,nl;q=0.9", "nl"),
        ("pt-BR,pt;q=0.9", "pt-br"),
        ("pt-PT", "pt-br"),  # the nearest Portuguese the site speaks
        ("ja-JP,ja;q=0.9", "ja"),
        ("ko-KR,ko;q=0.9", "ko"),
        ("zh-CN,zh;q=0.9", "en"),  # not spoken here: English
        ("", "en"),
    ],
)
def test_a_visitor_gets_the_browsers_language_at_the_same_address(client, accept_language, language):
    response = client.get(HOME, HTTP_ACCEPT_LANGUAGE=accept_language)

    assert response.status_code == 200
    assert html_lang(response) == language
    assert response["Content-Language"] == language
    assert "Accept-Language" in response["Vary"]


def test_the_choosers_cookie_wins_over_the_browser(client):
    client.cookies[COOKIE] = "ja"

    response = client.get(HOME, HTTP_ACCEPT_LANGUAGE="fr")

    assert html_lang(response) == "ja"


def test_a_saved_language_wins_over_the_browser_and_the_cookie(client, alice):
    User.objects.filter(pk=alice.pk).update(language="de")
    client.force_login(alice)
    client.cookies[COOKIE] = "ja"

    response = client.get(reverse("wallet:index"), HTTP_ACCEPT_LANGUAGE="fr")

    assert html_lang(response) == "de"
    assert response["Content-Language"] == "de"


def test_without_a_saved_language_a_signed_in_person_gets_the_browsers(client, alice):
    assert alice.language == ""
    client.force_login(alice)

    assert html_lang(client.get(reverse("wallet:index"), HTTP_ACCEPT_LANGUAGE="ko")) == "ko"


def test_sign_up_remembers_the_language_the_page_was_in(client):
    client.post(
        reverse("account_signup"),
        {
            "email": "dana@example.com",
            "display_name": "Dana",
            "country": "FR",
            "birth_date": "1999-04-02",
            "preferred_currency": "EUR",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
        },
        HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9",
    )

    dana = User.objects.get(email="dana@example.com")
    assert (dana.language, dana.time_zone) == ("fr", "UTC")


def test_country_names_are_in_the_pages_language(client):
    page = client.get(reverse("account_signup"), HTTP_ACCEPT_LANGUAGE="de").content.decode()

    assert '<option value="DE">Deutschland</option>' in page
    assert '<option value="KR">Südkorea</option>' in page
    assert '<option value="KRW">Südkoreanischer Won (KRW)</option>' in page  # currency names from Babel


# --- The footer's chooser -----------------------------------------------------------------------------


def test_every_page_offers_the_languages_each_in_its_own_name(client):
    page = client.get(HOME, HTTP_ACCEPT_LANGUAGE="ja").content.decode()

    assert f'<form class="language-chooser" method="post" action="{CHOOSER}">' in page
    assert 'name="csrfmiddlewaretoken"' in page.split('class="language-chooser"', 1)[1]
    assert '<option value="ja" lang="ja" selected>日本語</option>' in page
    for code, name in [("en", "English"), ("fr", "Français"), ("ko", "한국어"), ("pt-br", "Português Brasileiro")]:
        assert f'<option value="{code}" lang="{code}">{name}</option>' in page


def test_a_visitor_choosing_a_language_gets_a_cookie_and_goes_back(client):
    response = client.post(CHOOSER, {"language": "ko", "next": "/wallet/?page=2"})

    assert response.status_code == 302
    assert response.url == "/wallet/?page=2"
    assert response.cookies[COOKIE].value == "ko"
    assert html_lang(client.get(HOME, HTTP_ACCEPT_LANGUAGE="fr")) == "ko"


def test_a_signed_in_persons_choice_is_saved_on_their_account(client, alice):
    client.force_login(alice)

    client.post(CHOOSER, {"language": "it", "next": "/wallet/"})

    alice.refresh_from_db()
    assert alice.language == "it"
    del client.cookies[COOKIE]  # the account, not the cookie, carries it
    assert html_lang(client.get(reverse("wallet:index"), HTTP_ACCEPT_LANGUAGE="en")) == "it"


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example", "wallet:index"])
def test_the_chooser_only_sends_people_back_to_this_site(client, next_url):
    response = client.post(CHOOSER, {"language": "fr", "next": next_url})

    assert response.status_code == 302
    assert response.url == HOME


def test_an_unknown_language_changes_nothing(client, alice):
    client.force_login(alice)

    response = client.post(CHOOSER, {"language": "xx", "next": "/wallet/"})

    assert response.status_code == 302
    assert COOKIE not in response.cookies
    alice.refresh_from_db()
    assert alice.language == ""


def test_the_chooser_only_answers_posts_with_a_csrf_token(alice):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)

    assert strict.get(CHOOSER).status_code == 405
    assert strict.post(CHOOSER, {"language": "fr", "next": "/"}).status_code == 403
    alice.refresh_from_db()
    assert alice.language == ""


# --- The profile: language and time zone ----------------------------------------------------------------


def test_the_profile_offers_language_and_time_zone(client, alice):
    client.force_login(alice)

    page = client.get(PROFILE, HTTP_ACCEPT_LANGUAGE="fr").content.decode()

    assert '<select name="language"' in page
    assert '<option value="fr" selected>Français</option>' in page  # not saved yet: the page's language
    assert '<select name="time_zone"' in page
    assert '<option value="UTC" selected>UTC</option>' in page
    assert '<option value="Asia/Seoul">Asia/Seoul (UTC+09:00)</option>' in page
    assert page.count('<option value="', page.index('name="time_zone"')) >= len(time_zone_names())


def test_saving_the_profile_sets_language_and_time_zone(client, alice):
    client.force_login(alice)

    response = client.post(PROFILE, profile_data(language="ja", time_zone="Asia/Tokyo"), follow=True)

    alice.refresh_from_db()
    assert (alice.language, alice.time_zone) == ("ja", "Asia/Tokyo")
    assert html_lang(response) == "ja"
    assert response.redirect_chain[0][0] == PROFILE


def test_a_profile_without_the_new_fields_keeps_them(client, alice):
    User.objects.filter(pk=alice.pk).update(language="nl", time_zone="Europe/Amsterdam")
    client.force_login(alice)

    client.post(PROFILE, profile_data(display_name="Alice B"))

    alice.refresh_from_db()
    assert (alice.display_name, alice.language, alice.time_zone) == ("Alice B", "nl", "Europe/Amsterdam")


@pytest.mark.parametrize(
    ("field", "value"), [("time_zone", "Mars/Olympus_Mons"), ("time_zone", "US/Eastern"), ("language", "xx")]
)
def test_a_bad_language_or_time_zone_is_refused_and_nothing_is_saved(client, alice, field, value):
    client.force_login(alice)

    response = client.post(PROFILE, profile_data(display_name="Changed", **{field: value}))

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    alice.refresh_from_db()
    assert (alice.display_name, alice.language, alice.time_zone) == ("Alice", "", "UTC")


def test_a_persons_zone_is_active_for_their_request_and_never_leaks_into_the_next(client, alice):
    User.objects.filter(pk=alice.pk).update(time_zone="Asia/Seoul")
    client.force_login(alice)

    page = client.get(PROFILE).content.decode()

    assert '<option value="Asia/Seoul" selected>' in page
    assert timezone.get_current_timezone_name() == "UTC"  # dropped once the response was made


def test_the_javascript_catalogue_is_served_in_the_pages_language(client):
    page = client.get(HOME, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert f'<script src="{reverse("javascript-catalog")}?lang=fr" nonce="' in page

    response = client.get(reverse("javascript-catalog"), {"lang": "fr"}, HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    body = response.content.decode()
    assert "django.gettext = function" in body
    assert '"DECIMAL_SEPARATOR": ","' in body  # French formats
    assert "Last-Modified" in response


def test_a_new_user_has_no_saved_language_and_utc(db):
    user = make_user(email="erin@example.com")

    assert (user.language, user.time_zone) == ("", "UTC")
