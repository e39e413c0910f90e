"""A French viewer's first evening, in Chromium with a French browser (locale fr-FR, Accept-Language fr): sign
up and verify the email, buy coins with the sandbox checkout, send a gift in a live room, read the statement.
Every step is in French, and every amount is written the French way ("1,09 €", "10,99 €")."""

# ruff: noqa: RUF001  (the pages write quantities with a real multiplication sign, U+00D7)

import datetime
import re

import pytest
from playwright.sync_api import expect

from coinsite.accounts.models import User
from coinsite.tests.support import seed_catalogue
from gifting.services import stream_start
from gifting.tests.support import ensure_countries
from wallet.ledger import user_balance
from wallet.models import Asset, TopUp, TopUpStatus

pytestmark = pytest.mark.browser

PASSWORD = "une-phrase-de-passe-assez-longue"
EURO = r"\s€"  # Babel puts a no-break space between the amount and the sign
FRENCH_MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]


@pytest.fixture
def french_page(browser, live_server, settings, bob):
    """A French browser, a site that sends payers and webhooks to the live server, and Bob live."""
    settings.SITE_URL = live_server.url
    settings.SANDBOX_WEBHOOK_URL = f"{live_server.url}/wallet/webhooks/sandbox/"
    seed_catalogue()
    ensure_countries()
    stream = stream_start(creator=bob, title="Croquis du vendredi")
    context = browser.new_context(
        locale="fr-FR", extra_http_headers={"Accept-Language": "fr-FR,fr;q=0.9"}, base_url=live_server.url
    )
    page = context.new_page()
    yield page, stream
    context.close()


def test_a_french_viewer_signs_up_recharges_gifts_and_reads_the_statement(french_page, mailoutbox):
    page, stream = french_page

    # Sign up: the browser's language, before any choice is saved.
    page.goto("/accounts/signup/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.get_by_label("E-mail").fill("camille@example.fr")
    page.get_by_label("Nom affiché").fill("Camille")
    page.get_by_label("Pays").select_option("FR")
    page.get_by_label("Date de naissance").fill("1994-03-12")
    page.get_by_label("Devise préférée").select_option("EUR")
    page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
    page.get_by_label(re.compile(r"^Mot de passe \(")).fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"[Vv]érifi"))

    [confirmation] = mailoutbox
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", confirmation.body).group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirmer").click()

    page.goto("/accounts/login/")
    page.get_by_label("E-mail").fill("camille@example.fr")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    expect(page.locator(".nav-name")).to_have_text("Camille")
    camille = User.objects.get(email="camille@example.fr")

    # Recharge: 700 coins for 10,99 € by card, in the sandbox's French checkout.
    page.get_by_role("link", name="Portefeuille", exact=True).click()
    page.get_by_role("navigation", name="Portefeuille").get_by_role("link", name="Acheter des pièces").click()
    expect(page.get_by_role("heading", name="Acheter des pièces")).to_be_visible()
    expect(page.locator(".package-price").first).to_have_text(re.compile(rf"^1,09{EURO}$"))
    page.get_by_role("radio", name=re.compile(rf"^700 10,99{EURO}")).check()
    page.get_by_role("radio", name="Carte de crédit ou de débit").check()
    page.get_by_role("button", name="Continuer vers le paiement").click()

    expect(page.get_by_text("PAGE DE PAIEMENT TEST")).to_be_visible()
    page.get_by_label("Numéro de carte").fill("4242 4242 4242 4242")
    page.get_by_label(re.compile(r"^Date d")).fill("12 / 34")
    page.get_by_label(re.compile(r"^(Code|Cryptogramme)")).fill("123")
    page.get_by_role("button", name=re.compile(rf"^Payer 10,99{EURO}")).click()

    expect(page.get_by_role("heading", name="Reçu")).to_be_visible()
    expect(page.get_by_text("Merci ! 700 pièces ont été ajoutées à votre portefeuille.")).to_be_visible()
    expect(page.locator(".facts")).to_contain_text(re.compile(rf"10,99{EURO}"))
    assert TopUp.objects.get(user=camille).status == TopUpStatus.SUCCEEDED
    receipt = mailoutbox[-1]
    assert receipt.subject == "Votre reçu Coinsite : 700 pièces"
    assert "10,99\xa0€" in receipt.body

    # Gift: a rose in Bob's live room.
    page.get_by_role("link", name="Live", exact=True).click()
    page.get_by_role("link", name="Croquis du vendredi").click()
    expect(page).to_have_url(re.compile(rf"/live/{stream.pk}/$"))
    expect(page.get_by_role("heading", name="Envoyer un cadeau")).to_be_visible()
    expect(page.get_by_text(re.compile(rf"Votre solde : 700 pièces \(10,90{EURO}\)"))).to_be_visible()
    page.wait_for_load_state("load")  # room.js sends the tap (before it runs, the button posts the form)
    page.get_by_role("button", name=re.compile(rf"^Rose 1 pièce \(0,02{EURO}\)")).click()
    expect(page.get_by_test_id("gift-sent")).to_have_text("Vous avez envoyé 1 × Rose.", timeout=10_000)
    assert user_balance(camille, Asset.COIN) == 699

    # Statement: this month so far, in French words and numbers.
    page.get_by_role("link", name="Portefeuille", exact=True).click()
    page.get_by_role("navigation", name="Portefeuille").get_by_role("link", name="Relevés").click()
    expect(page.get_by_role("heading", name="Relevés", exact=True)).to_be_visible()
    page.get_by_role("link", name="Voir").first.click()
    today = datetime.datetime.now(datetime.UTC)
    month = f"{FRENCH_MONTHS[today.month - 1]} {today.year}"
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Relevé de {month}")
    main = page.locator("main")
    expect(main).to_contain_text(re.compile(rf"\+700 pièces \(10,90{EURO}\) en 1 recharge, vous avez payé 10,99{EURO}"))
    expect(main).to_contain_text("Cadeaux envoyés")
    expect(main).to_contain_text(re.compile(rf"À la fin du mois\s*699 pièces \(10,88{EURO}\)"))
    expect(main.get_by_role("link", name="Télécharger le CSV")).to_be_visible()
    for english in ("Statement for", "Gifts sent", "Recharged", "At the end of the month", "coins"):
        expect(main).not_to_contain_text(english)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
