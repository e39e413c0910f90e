"""The admin in the staff member's language: every model, field and help text of the project's apps is marked
for translation, so its section names, column headers and form labels follow the language as the site does."""

import datetime
import re

import pytest
from babel.numbers import get_currency_name
from django.apps import apps
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import override
from djmoney.money import Money

from backoffice.tests.support import admin_login, make_staff, make_topup
from coinsite.lib.currencies import CURRENCIES
from coinsite.lib.dates import current_month, previous_month
from gifting.tests.support import catalogue_reseed
from payouts.models import EarningsRollup, PayoutSettings, StatementRun
from wallet.ledger import account_for_user, system_account
from wallet.models import (
    Adjustment,
    Asset,
    CoinPackagePrice,
    CoinRate,
    CoinReceivable,
    EconomySettings,
    LedgerAuditRun,
    LedgerEntry,
    LedgerTransaction,
    SpendingControls,
    SystemAccount,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(db):
    catalogue_reseed()


PROJECT_APPS = ("accounts", "api", "backoffice", "gifting", "payouts", "paysandbox", "wallet")


def german_admin(client, **staff):
    """`client` signed in to the admin as a staff member whose language is German."""
    member = make_staff(**staff)
    member.language = "de"
    member.save(update_fields=["language"])
    return admin_login(client, member)


def _untranslatable_names() -> list[str]:
    """Every model name, field label and help text in the project's apps given as a plain string (or left to
    Django's English default) rather than marked with gettext_lazy."""
    found = []
    for app_label in PROJECT_APPS:
        for model in apps.get_app_config(app_label).get_models():
            for option in ("verbose_name", "verbose_name_plural"):
                if not isinstance(model._meta.original_attrs.get(option), Promise):
                    found.append(f"{model._meta.label} {option}")
            for field in [*model._meta.local_fields, *model._meta.local_many_to_many]:
                if field.auto_created:
                    continue  # the id: Django's "ID"
                if not isinstance(field.verbose_name, Promise):
                    found.append(f"{model._meta.label}.{field.name} verbose_name")
                if field.help_text and not isinstance(field.help_text, Promise):
                    found.append(f"{model._meta.label}.{field.name} help_text")
    return found


def test_every_model_field_and_help_text_is_marked_for_translation():
    assert _untranslatable_names() == []


def test_a_money_amounts_currency_column_is_named_after_the_amount():
    price_currency = CoinPackagePrice._meta.get_field("price_currency").verbose_name

    assert str(price_currency) == "price (currency)"
    with override("de"):
        assert str(price_currency) == f"{CoinPackagePrice._meta.get_field('price').verbose_name} (Währung)"


def test_the_admin_speaks_the_staff_members_language(client):
    german_admin(client, email="fin@example.com", group="finance")
    StatementRun.objects.create(month=previous_month(current_month()))
    with override("de"):
        section = str(capfirst(StatementRun._meta.verbose_name_plural))
        month = str(capfirst(StatementRun._meta.get_field("month").verbose_name))
    assert section != "Statement runs" and month != "Month"  # the catalogue has them

    index = client.get(reverse("admin:index")).content.decode()
    changelist = client.get(reverse("admin:payouts_statementrun_changelist")).content.decode()

    assert section in index and "Statement runs" not in index
    assert month in changelist and ">Month<" not in changelist


def test_the_admin_index_names_every_section_once_and_in_german(client):
    german_admin(client, email="fin@example.com", is_superuser=True)

    index = client.get(reverse("admin:index")).content.decode()
    topups = client.get(reverse("admin:wallet_topup_changelist")).content.decode()

    sections = re.findall(r'<caption>\s*<a [^>]*class="section"[^>]*>([^<]+)</a>', index)
    assert len(sections) == len(set(sections)), sections  # allauth's "Accounts" and ours were both "Konten"
    assert {"Wechselkurse", "Backup-Codes", "E-Mail-Adressen"} <= set(sections), sections
    assert not {"Exchange", "Otp_Static", "Otp_Totp"} & set(sections), sections
    assert "Wechselkurse" in index and ">Rates<" not in index
    assert "TOTP devices" not in index and "Static devices" not in index  # django-otp's models
    assert ">Ausführen<" in topups and ">Run<" not in topups  # Django's own button, missing in its German
    assert "- Bitte auswählen -" in topups and "- Select an option -" not in topups


def test_money_fields_offer_coinsites_currencies_named_in_the_staff_members_language(client):
    german_admin(client, email="fin@example.com", is_superuser=True)

    form = client.get(reverse("admin:wallet_coinpackageprice_add")).content.decode()
    payout_settings = reverse("admin:payouts_payoutsettings_change", args=[PayoutSettings.load().pk])
    settings_form = client.get(payout_settings).content.decode()
    rates = client.get(reverse("admin:wallet_coinrate_changelist")).content.decode()

    options = re.findall(r'<option value="([A-Z]{3})"[^>]*>([^<]+)</option>', form)
    assert options == [(code, f"{get_currency_name(code, locale='de')} ({code})") for code in sorted(CURRENCIES)]
    assert ("USD", "US-Dollar (USD)") in options  # djmoney's English "US Dollar" before
    assert "US-Dollar (USD)" in settings_form and "US Dollar" not in settings_form
    assert "US-Dollar (USD)" in rates and "US Dollar" not in rates  # the list's filter by currency


def test_top_ups_name_their_payment_method_as_viewers_read_it(client, alice):
    german_admin(client, email="fin@example.com", group="finance")
    topup = make_topup(alice, coins=700, amount=Money("9.99", "USD"))
    assert topup.payment_method == "card"

    page = client.get(reverse("admin:wallet_topup_changelist")).content.decode()
    filtered = client.get(reverse("admin:wallet_topup_changelist"), {"payment_method": "paypal"}).content.decode()

    assert "Kredit- oder Debitkarte" in page and ">card<" not in page  # the column and the filter
    assert str(topup.public_id) in page and str(topup.public_id) not in filtered


def test_the_gift_list_names_the_countries_a_gift_is_offered_in(client, catalogue):
    german_admin(client, email="cat@example.com", group="catalogue")

    page = client.get(reverse("admin:gifting_gift_changelist")).content.decode()

    assert "Japan" in page and "[&quot;JP&quot;]" not in page  # the cherry blossom, offered in Japan only
    assert "Überall" in page  # every other gift


def test_ledger_accounts_name_themselves_in_words(alice):
    wallet = account_for_user(alice, Asset.COIN)
    issued = system_account(SystemAccount.COINS_ISSUED)

    assert str(wallet) == f"#{wallet.pk} Coins of user {alice.pk}"
    assert str(issued) == f"#{issued.pk} Coins issued"
    with override("de"):
        assert str(wallet) == f"#{wallet.pk} Münzen von Nutzer {alice.pk}"
        assert str(issued) == f"#{issued.pk} {SystemAccount.COINS_ISSUED.label}" != f"#{issued.pk} Coins issued"


def test_a_top_up_and_a_coin_rate_name_themselves_in_the_active_language(alice):
    topup = make_topup(alice, coins=7_000, amount=Money("99.99", "USD"), bonus_coins=350)
    rate = CoinRate(per_coin=Money("0.0141", "USD"))

    assert str(topup) == f"Top-up {topup.public_id} (7,350 coins, $99.99, Paid)"
    assert str(rate) == "1 coin = $0.0141"
    with override("de"):
        assert str(topup) == f"Aufladung {topup.public_id} (7.350 Münzen, 99,99\xa0$, Bezahlt)"
        assert str(rate) == "1 Münze = 0,0141\xa0$"


def test_the_ledgers_and_the_staff_tables_rows_name_themselves_in_the_active_language(alice):
    """What a change page's title, its breadcrumbs and a delete confirmation call a row: in German for a German
    staff member, with the locale's digits, never the code's names ("gift", "tx", "coins owed by user")."""
    entry = LedgerEntry(pk=12, transaction_id=5, account_id=9, asset=Asset.COIN, amount=-1_500)
    receivable = CoinReceivable(pk=3, user=alice, coins=2_000, settled_coins=500)
    adjustment = Adjustment(pk=7, user=alice, asset=Asset.DIAMOND, amount=-1_200, status="pending")
    audit = LedgerAuditRun(run_date=datetime.date(2026, 12, 5), is_clean=False)
    rows = [
        LedgerTransaction(pk=5, kind="gift", idempotency_key="gift:4:tap-1"),
        entry,
        receivable,
        adjustment,
        audit,
        EconomySettings(),
        SpendingControls(user=alice),
        EarningsRollup(creator_id=8, day=datetime.date(2026, 12, 5), diamonds=1_000),
    ]

    english = [str(row) for row in rows]
    with override("de"):
        german = [str(row) for row in rows]

    assert english[:5] == [
        "#5 Gift (gift:4:tap-1)",
        "#12: \N{MINUS SIGN}1,500 Coins on account #9 (transaction #5)",
        f"1,500 of 2,000 coins owed by user {alice.pk}",
        f"Adjustment 7: \N{MINUS SIGN}1,200 diamonds for {alice} (Waiting for a second approval)",
        "Ledger audit of Dec. 5, 2026: FAILED",
    ]
    assert german[:5] == [
        "#5 Geschenk (gift:4:tap-1)",
        "#12: \N{MINUS SIGN}1.500 Münzen auf Konto #9 (Transaktion #5)",
        f"1.500 von 2.000 Münzen geschuldet von Nutzer {alice.pk}",
        f"Korrektur 7: \N{MINUS SIGN}1.200 Diamanten für {alice} (Wartet auf eine zweite Genehmigung)",
        "Ledger-Prüfung vom 5. Dezember 2026: FEHLGESCHLAGEN",
    ]
    assert all(theirs != ours for theirs, ours in zip(english, german, strict=True))


def test_the_authenticator_and_backup_code_lists_search_the_users_email_once_in_german(client):
    german_admin(client, email="root@example.com", is_superuser=True)

    for changelist in ("admin:otp_totp_totpdevice_changelist", "admin:otp_static_staticdevice_changelist"):
        page = client.get(reverse(changelist))

        assert page.context["cl"].search_fields == ["user__email"]  # django-otp searched it twice
        text = page.content.decode()
        assert "Suche nach der E-Mail-Adresse des Nutzers" in text
        assert "Search by user" not in text  # django-otp's English, built at import
