"""Key pages and emails, rendered in every language the site speaks, show none of their English phrases,
and amounts in the local format (Babel's)."""

import datetime
import os
import re
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.admin.templatetags.admin_filters import truncated_unordered_list
from django.core import mail
from django.db.models.fields import BLANK_CHOICE_LABEL
from django.urls import reverse
from django.utils import translation
from djmoney.money import Money

from coinsite.accounts.models import User
from coinsite.accounts.tests.factories import enroll_totp, make_user, sudo_fresh
from coinsite.lib.dates import current_month
from gifting.models import Gift
from gifting.services import gift_send, stream_start
from gifting.tests.support import catalogue_reseed, ensure_countries, fund
from payouts import emails as payout_emails
from payouts.exchange import rates_load
from payouts.services import payout_request
from payouts.statements.selectors import creator_statement, viewer_statement
from payouts.tests.support import add_method, give_diamonds
from wallet import emails as wallet_emails
from wallet.models import TopUp, TopUpStatus

pytestmark = pytest.mark.django_db

LANGUAGES = [code for code, _name in settings.LANGUAGES if code != "en"]
# Where a person speaking each language lives, and so the currency they pay in.
HOME = {
    "en": ("US", "USD"),
    "fr": ("FR", "EUR"),
    "de": ("DE", "EUR"),
    "es": ("ES", "EUR"),
    "it": ("IT", "EUR"),
    "nl": ("NL", "EUR"),
    "pt-br": ("BR", "BRL"),
    "ja": ("JP", "JPY"),
    "ko": ("KR", "KRW"),
}


def visible_text(html: str) -> str:
    html = re.sub(r"(?is)<(script|style|template)\b.*?</\1>", " ", html)
    html = re.sub(r"(?s)<!--.*?-->", " ", html)
    text = unescape(re.sub(r"(?s)<[^>]+>", " ", html))
    return re.sub(r"[ \t\r\n]+", " ", text)  # no-break spaces stay: amounts have them


PAID_AT = datetime.datetime(2026, 11, 16, 9, 5, tzinfo=datetime.UTC)


def person(language: str, *, role: str, **fields) -> User:
    country, currency = HOME[language]
    return make_user(
        email=f"{role}-{language}@example.com",
        display_name=role.title(),
        country=country,
        preferred_currency=currency,
        language=language,
        **fields,
    )


@pytest.fixture
def world(db):
    """Everything the key pages show, for people who speak `language`: a live creator with earnings, a
    payout and a method; a viewer who bought coins, sent a gift and has a statement."""
    ensure_countries()
    catalogue_reseed()
    rates_load()

    def make(language: str) -> dict:
        creator = person(language, role="creator", is_creator=True)
        enroll_totp(creator)
        viewer = person(language, role="viewer")
        stream = stream_start(creator=creator, title="Friday sketching", goal_coins=1_000, goal_label="Tablet")
        fund(viewer, 5_000)
        gift = Gift.objects.get(slug="rose")
        gift_send(sender=viewer, stream_id=stream.pk, gift_id=gift.pk, quantity=1, idempotency_key=f"g-{language}")
        give_diamonds(creator, 20_000)
        method = add_method(creator, currency="USD")
        payout = payout_request(creator=creator, method_id=method.pk, diamonds=10_000, idempotency_key=f"p-{language}")
        return {"creator": creator, "viewer": viewer, "stream": stream, "payout": payout}

    return make


def page_as(client, user: User, url: str, **headers) -> str:
    client.force_login(user)
    sudo_fresh(client)
    response = client.get(url, **headers)
    assert response.status_code == 200, url
    return response.content.decode()


def home(client, w, language):
    client.logout()
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=f"{language},en;q=0.5")
    assert response.status_code == 200
    return response.content.decode()


def live_room(client, w, language):
    return page_as(client, w["viewer"], reverse("gifting:stream", args=[w["stream"].pk]))


def recharge(client, w, language):
    return page_as(client, w["viewer"], reverse("wallet:recharge"))


def wallet(client, w, language):
    return page_as(client, w["viewer"], reverse("wallet:index"))


def controls(client, w, language):
    return page_as(client, w["viewer"], reverse("wallet:controls"))


def creator_dashboard(client, w, language):
    return page_as(client, w["creator"], reverse("payouts:index"))


def payout(client, w, language):
    return page_as(client, w["creator"], reverse("payouts:payout", args=[w["payout"].public_id]))


def statements(client, w, language):
    return page_as(client, w["viewer"], reverse("payouts:statements"))


def statement(client, w, language):
    return page_as(client, w["creator"], reverse("payouts:statement", args=[f"{current_month():%Y-%m}"]))


def receipt_email(client, w, language):
    viewer = w["viewer"]
    _country, currency = HOME[language]
    amount = {"USD": "0.99", "EUR": "1.09", "BRL": "5.90", "JPY": "160", "KRW": "1500"}[currency]
    topup = TopUp.objects.create(
        user=viewer,
        coins=70,
        amount=Money(amount, currency),
        country=viewer.country,
        payment_method="card",
        provider="sandbox",
        status=TopUpStatus.PENDING,
        created_at=PAID_AT,
        completed_at=PAID_AT,
        expires_at=PAID_AT + datetime.timedelta(hours=1),
    )
    mail.outbox.clear()
    wallet_emails.topup_receipt_send(topup_id=topup.pk)
    return email_text(mail.outbox)


def statement_email(client, w, language):
    mail.outbox.clear()
    payout_emails.statement_send(viewer_statement(w["viewer"], current_month()))
    payout_emails.statement_send(creator_statement(w["creator"], current_month()))
    return email_text(mail.outbox)


def email_text(outbox) -> str:
    parts = []
    for message in outbox:
        [(html, _mimetype)] = message.alternatives
        parts += [message.subject, message.body, html]
        parts += [content for _name, content, _type in message.attachments]
    return "\n".join(parts)


PAGES = {
    "home": home,
    "live room": live_room,
    "recharge": recharge,
    "wallet": wallet,
    "controls": controls,
    "creator dashboard": creator_dashboard,
    "payout": payout,
    "statements": statements,
    "statement": statement,
    "receipt email": receipt_email,
    "statement email": statement_email,
}

# Distinctive English phrases of each page, words the catalogues translate (no brand, gift or currency names).
PHRASES = {
    "home": ["Support the creators you watch, live.", "Create an account", "Live now", "Goal:", " coins ("],
    "live room": ["Send a gift", "Your balance", "Top gifters", "Gifting preferences", "Goal:", "Chat and gifts"],
    "recharge": ["Choose your coins", "Custom amount", "Choose how to pay", "Continue to payment", "per coin"],
    "wallet": ["Your coins", "Spent on gifts", "Recent top-ups", "Balance after", "Download CSV"],
    "controls": ["Spending controls", "Daily budget", "Take a break", "Pause for 24 hours", "Save budgets"],
    "creator dashboard": ["Request a payout", "Daily earnings", "Diamonds to pay out", "On hold", "diamonds"],
    "payout": ["Payout of", "Back to earnings", "Queued", "diamonds"],
    "statements": ["Your monthly statements", "Months run in", "So far", "Download CSV"],
    "statement": [
        "Statement for",
        "All statements",
        "Diamonds earned",
        "Gifts by day and stream",
        "At the end of the month",
    ],
    "receipt email": ["Your Coinsite receipt", "Thank you for your purchase", "were added to your", "Price paid"],
    "statement email": [
        "Your Coinsite statement for",
        "Coins at the start",
        "Gifts sent",
        "See your statement",
        "Diamonds earned",
        "Coins at the start of the month",  # the CSV
    ],
}
# The smallest package's price on the recharge page and in the receipt, as Babel writes it for each language
# (a no-break space where the locale puts one).
PRICES = {
    "en": "$0.99",
    "fr": "1,09\xa0€",
    "de": "1,09\xa0€",
    "es": "1,09\xa0€",
    "it": "1,09\xa0€",
    "nl": "€\xa01,09",
    "pt-br": "R$\xa05,90",
    "ja": "¥160",
    "ko": "₩1,500",
}


def catalogue_present(language: str) -> None:
    """A language without its compiled catalogue fails in CI; elsewhere its cases are skipped, with why."""
    folder = language.split("-")[0] + ("_" + language.split("-")[1].upper() if "-" in language else "")
    compiled = Path(settings.BASE_DIR, "locale", folder, "LC_MESSAGES", "django.mo")
    if not compiled.exists():
        reason = (
            f"locale/{folder}/LC_MESSAGES/django.mo is missing: no {language} catalogue yet, or not compiled "
            '(manage.py compilemessages --ignore ".venv")'
        )
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(reason)
        pytest.skip(reason)


def render(client, world, page: str, language: str) -> str:
    html = PAGES[page](client, world(language), language)
    return visible_text(html.split("<main", 1)[1].split("</main>", 1)[0] if "<main" in html else html)


def test_the_english_pages_show_every_phrase(client, world):
    """So that the checks below cannot pass on a page that never showed its phrases."""
    w = world("en")
    for page, phrases in PHRASES.items():
        html = PAGES[page](client, w, "en")
        text = visible_text(html.split("<main", 1)[1].split("</main>", 1)[0] if "<main" in html else html)
        assert [phrase for phrase in phrases if phrase not in text] == [], page
        if page in {"recharge", "receipt email"}:
            assert PRICES["en"] in text, page


@pytest.mark.parametrize("page", list(PHRASES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_no_english_phrase_is_left_on_a_page(client, world, language, page):
    catalogue_present(language)

    text = render(client, world, page, language)

    assert [phrase for phrase in PHRASES[page] if phrase in text] == []


@pytest.mark.parametrize("page", ["recharge", "receipt email"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_prices_are_in_the_local_format(client, world, language, page):
    catalogue_present(language)

    text = render(client, world, page, language)

    assert PRICES[language] in text
    if PRICES[language] != PRICES["en"]:
        assert PRICES["en"] not in text


def test_the_language_comes_from_accept_language_for_a_visitor(client, world):
    """The home page is read signed out: the browser's language picks it (the cases above use it)."""
    world("en")
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9,en;q=0.5")
    assert response.headers["Content-Language"] == "fr"
    assert '<html lang="fr"' in response.content.decode()


@pytest.mark.parametrize("language", LANGUAGES)
def test_djangos_own_blank_choice_speaks_every_language(language):
    """Every select's empty choice (Django's "- Select an option -", which its catalogues lack in most of these
    languages) comes from ours: `coinsite.lib.l10n.DJANGO_MESSAGES_UNTRANSLATED`."""
    with translation.override(language):
        blank = str(BLANK_CHOICE_LABEL)

    assert blank != "- Select an option -" and blank.startswith("- ") and blank.endswith(" -")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_admins_truncated_delete_list_speaks_every_language(language):
    """A delete confirmation lists what goes with the object, cut after so many items with "…and 3 more objects."
    (Django's catalogues lack it in German, Italian and Portuguese and leave it empty in four more)."""
    related = [f"Gift event {number}" for number in range(5)]
    with translation.override(language):
        shown = truncated_unordered_list(related, 2)
        with translation.override("en"):
            assert "<li>…and 3 more objects.</li>" in truncated_unordered_list(related, 2)

    assert shown.count("<li>") == 3 and "more object" not in shown and "3" in shown.rsplit("<li>", 1)[1]


def test_every_language_the_site_speaks_is_checked():
    assert set(LANGUAGES) == set(HOME) - {"en"} == set(PRICES) - {"en"}


def test_a_missing_catalogue_fails_in_ci_and_is_skipped_elsewhere(settings, tmp_path, monkeypatch):
    settings.BASE_DIR = tmp_path
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"locale/pt_BR/LC_MESSAGES/django\.mo is missing"):
        catalogue_present("pt-br")

    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"locale/ko/LC_MESSAGES/django\.mo is missing"):
        catalogue_present("ko")

    (tmp_path / "locale" / "ko" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "locale" / "ko" / "LC_MESSAGES" / "django.mo").write_bytes(b"")
    catalogue_present("ko")
