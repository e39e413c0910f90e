"""Admin as a new staff member reads it: supported currencies only, real diamond values, a person picked by
name for a correction, messages and list columns in words with separators and money values, and the two
missing actions (start a statement run, lift one creator's payout hold)."""

import re
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from kombu.exceptions import OperationalError as KombuOperationalError

from backoffice.tests.support import admin_login, make_payout, make_staff
from coinsite.accounts.models import StaffAction
from coinsite.lib.currencies import CURRENCIES
from coinsite.lib.dates import current_month, previous_month
from payouts.models import PayoutMethod, PayoutStatus, StatementDelivery, StatementRun
from payouts.selectors import payouts_held_until
from payouts.statements.services import statements_unfinished
from payouts.tests.support import add_method
from wallet.ledger import user_balance
from wallet.models import Adjustment, Asset, CoinPackagePrice, CoinRate, EconomySettings

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance(client):
    return admin_login(client, make_staff(email="fin@example.com", group="finance"))


def test_currency_pickers_offer_only_supported_currencies(client):
    admin_login(client, make_staff(email="root@example.com", is_superuser=True))

    page = client.get(reverse("admin:wallet_coinpackageprice_add")).content.decode()

    offered = set(re.findall(r'<option value="([A-Z]{3})"', page.split('name="price_1"')[1].split("</select>")[0]))
    assert offered == set(CURRENCIES)
    assert {code for code, _name in CoinPackagePrice._meta.get_field("price").currency_choices()} == set(CURRENCIES)


def test_the_diamond_value_shows_its_fraction_of_a_cent(client):
    admin_login(client, make_staff(email="root@example.com", is_superuser=True))
    EconomySettings.load()

    page = client.get(reverse("admin:wallet_economysettings_changelist")).content.decode()

    assert "$0.00<" not in page
    assert "$0.005" in page


def test_a_payout_and_the_coin_rates_show_their_unit_prices_to_the_fraction_of_a_cent(finance, bob):
    payout = make_payout(bob, status=PayoutStatus.AWAITING_APPROVAL, diamonds=20_000)
    CoinRate.objects.filter(per_coin_currency="USD").update(per_coin=Decimal("0.0141"))

    page = finance.get(reverse("admin:payouts_payout_change", args=[payout.pk])).content.decode()
    rates = finance.get(reverse("admin:wallet_coinrate_changelist")).content.decode()

    assert "$0.0050" in page and "$0.00<" not in page
    assert "$100.00" in page  # the payout's value, in cents as money is
    assert "$0.0141" in rates and "$0.01<" not in rates


def test_the_correction_form_finds_the_person_by_name(finance, alice):
    page = finance.get(reverse("admin:wallet_adjustment_add")).content.decode()
    assert "admin-autocomplete" in page and 'data-model-name="adjustment"' in page
    assert "autocomplete.js" in page

    found = finance.get(
        reverse("admin:autocomplete"),
        {"term": "alice", "app_label": "wallet", "model_name": "adjustment", "field_name": "user"},
    ).json()

    assert [result["id"] for result in found["results"]] == [str(alice.pk)]


def test_a_correction_message_says_what_happened_in_words_and_money(finance, bob):
    response = finance.post(
        reverse("admin:wallet_adjustment_add"),
        {"user": bob.pk, "asset": Asset.DIAMOND, "amount": 3_000, "reason": "Gift lost in an outage"},
        follow=True,
    )

    assert "Added 3,000 diamonds ($15.00) to bob@example.com." in response.content.decode()
    assert user_balance(bob, Asset.DIAMOND) == 3_000
    page = finance.get(reverse("admin:wallet_adjustment_changelist")).content.decode()
    assert "+3,000 diamonds ($15.00)" in page
    assert "DIAMOND for user" not in str(Adjustment.objects.get())


def test_a_large_correction_says_it_waits(finance, alice):
    response = finance.post(
        reverse("admin:wallet_adjustment_add"),
        {"user": alice.pk, "asset": Asset.COIN, "amount": -300_000, "reason": "Duplicate credit"},
        follow=True,
    )

    assert "Taking 300,000 coins" in response.content.decode()
    assert "waits for a second staff member" in response.content.decode()


def test_money_lists_group_numbers_and_show_values(finance, bob):
    finance.post(
        reverse("admin:wallet_adjustment_add"),
        {"user": bob.pk, "asset": Asset.DIAMOND, "amount": 3_000, "reason": "Correction"},
    )

    entries = finance.get(reverse("admin:wallet_ledgerentry_changelist")).content.decode()
    accounts = finance.get(reverse("admin:wallet_ledgeraccount_changelist")).content.decode()

    assert "+3,000 diamonds ($15.00)" in entries
    assert "3,000 diamonds ($15.00)" in accounts


def test_statement_deliveries_are_spelled_right(finance):
    page = finance.get(reverse("admin:index")).content.decode()

    assert "Statement deliveries" in page and "deliverys" not in page


def test_finance_starts_a_statement_run_for_a_month_that_ended(finance, alice, django_capture_on_commit_callbacks):
    month = previous_month(current_month())
    changelist = finance.get(reverse("admin:payouts_statementrun_changelist")).content.decode()
    assert reverse("admin:payouts_statementrun_start") in changelist

    response = finance.post(reverse("admin:payouts_statementrun_start"), {"month": month.isoformat()}, follow=True)

    run = StatementRun.objects.get(month=month)
    assert run.finished_at is not None  # the task ran (eagerly in tests) and finished the month
    assert StatementDelivery.objects.filter(month=month).count() == run.sent
    assert "Statements for" in response.content.decode()
    assert StaffAction.objects.get(action="statements.start").actor.email == "fin@example.com"


def test_a_run_started_while_the_broker_is_out_is_saved_and_staff_are_told_it_starts_later(finance, alice, monkeypatch):
    month = previous_month(current_month())

    def broker_down(month_iso):
        raise KombuOperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr("payouts.tasks.statements_send_month.delay", broker_down)

    response = finance.post(reverse("admin:payouts_statementrun_start"), {"month": month.isoformat()}, follow=True)

    assert response.status_code == 200
    run = StatementRun.objects.get(month=month)
    assert (run.finished_at, run.sent) == (None, 0)  # recorded, not sent: the statement sweep picks it up
    page = response.content.decode()
    assert "The task queue could not be reached just now. The run is saved" in page
    assert statements_unfinished() == [month.isoformat()]


def test_a_month_that_has_not_ended_cannot_be_started(finance):
    response = finance.post(reverse("admin:payouts_statementrun_start"), {"month": current_month().isoformat()})

    assert response.status_code == 200
    assert not StatementRun.objects.exists()


def test_catalogue_staff_cannot_start_a_run(client):
    admin_login(client, make_staff(email="cat@example.com", group="catalogue"))

    assert client.get(reverse("admin:payouts_statementrun_start")).status_code == 403
    assert not StatementRun.objects.exists()


def test_support_lifts_one_creators_payout_hold(client, bob):
    method = add_method(bob, aged=False)  # just added: payouts are held for 72 hours
    assert payouts_held_until(bob) is not None
    support = make_staff(email="sam@example.com", group="support")
    admin_login(client, support)

    client.post(
        reverse("admin:payouts_payoutmethod_changelist"),
        {"action": "lift_hold", ACTION_CHECKBOX_NAME: [method.pk], "confirm": "1", "reason": "Called Bob back"},
    )

    assert payouts_held_until(bob) is None
    method.refresh_from_db()
    assert method.hold_lifted_by == support
    audit = StaffAction.objects.get(action="payout.hold_lift")
    assert (audit.actor, audit.reason) == (support, "Called Bob back")
    page = client.get(reverse("admin:payouts_payoutmethod_changelist")).content.decode()
    assert "Lifted by" in page


def test_a_new_method_change_after_the_lift_holds_payouts_again(client, bob):
    method = add_method(bob, aged=False)
    support = make_staff(email="sam@example.com", group="support")
    admin_login(client, support)
    client.post(
        reverse("admin:payouts_payoutmethod_changelist"),
        {"action": "lift_hold", ACTION_CHECKBOX_NAME: [method.pk], "confirm": "1", "reason": "Checked"},
    )

    add_method(bob, aged=False, paypal_email="new@example.com")

    assert payouts_held_until(bob) is not None  # the lift covered the change staff checked, not this one
    assert support.staff_actions.filter(action="payout.hold_lift").count() == 1


def test_lifting_when_no_hold_runs_changes_nothing(client, bob):
    method = add_method(bob)  # aged: the hold is over
    admin_login(client, make_staff(email="sam@example.com", group="support"))

    response = client.post(
        reverse("admin:payouts_payoutmethod_changelist"),
        {"action": "lift_hold", ACTION_CHECKBOX_NAME: [method.pk], "confirm": "1", "reason": "Checked"},
        follow=True,
    )

    assert "has no payout hold to lift" in response.content.decode()
    assert PayoutMethod.objects.get(pk=method.pk).hold_lifted_at is None
    assert not StaffAction.objects.filter(action="payout.hold_lift").exists()


def test_catalogue_staff_cannot_lift_a_hold(client, bob):
    method = add_method(bob, aged=False)
    admin_login(client, make_staff(email="cat@example.com", group="catalogue"))

    client.post(
        reverse("admin:payouts_payoutmethod_changelist"),
        {"action": "lift_hold", ACTION_CHECKBOX_NAME: [method.pk], "confirm": "1", "reason": "x"},
    )

    assert payouts_held_until(bob) is not None
    assert PayoutMethod.objects.get(pk=method.pk).hold_lifted_at is None
