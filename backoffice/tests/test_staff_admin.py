"""Staff in admin: least-privilege groups, read-only money records, the audit log, validated economics."""

import json
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from djmoney.money import Money

from backoffice.services import topup_reverse
from backoffice.staff_groups import GROUP_PERMISSIONS, staff_groups_sync
from backoffice.tests.support import admin_login, make_payout, make_staff, make_topup
from coinsite.accounts.models import StaffAction
from coinsite.accounts.staff_audit import staff_action_record
from gifting.models import Gift, GiftingSettings, LiveStream
from gifting.tests.support import make_gift_event
from payouts.models import PayoutSettings, PayoutStatus
from wallet.ledger import account_for_user, ledger_credit
from wallet.models import (
    Asset,
    CoinPackage,
    CoinPackagePrice,
    Country,
    EconomySettings,
    LedgerAccount,
    LedgerEntry,
    TopUp,
)
from wallet.valuation import Valuation


def url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


@pytest.fixture
def support(db):
    return make_staff(email="sam.support@example.com", group="support")


@pytest.fixture
def finance(db):
    return make_staff(email="fiona.finance@example.com", group="finance")


@pytest.fixture
def catalogue(db):
    return make_staff(email="cat.catalogue@example.com", group="catalogue")


@pytest.fixture
def superuser(db):
    return make_staff(email="root@example.com", is_superuser=True)


@pytest.fixture
def gift(db):
    return Gift.objects.create(name="Test Star", slug="test-star", coin_cost=99, artwork="gifts/star.svg")


@pytest.fixture
def awaiting_payout(bob):
    return make_payout(bob, status=PayoutStatus.AWAITING_APPROVAL, diamonds=400_000)


@pytest.fixture
def money_rows(alice, bob, gift):
    """One of every money record, for the read-only checks."""
    ledger_credit(
        account=account_for_user(alice, Asset.COIN),
        asset=Asset.COIN,
        amount=1_000,
        idempotency_key="test-topup:readonly",
        kind="topup",
    )
    stream = LiveStream.objects.create(creator=bob, title="Read-only night")
    event = make_gift_event(sender=alice, creator=bob, stream=stream, gift=gift)
    return {
        "topup": make_topup(alice, coins=700, amount=Money("9.99", "USD")),
        "transaction": event.ledger_transaction,
        "entry": LedgerEntry.objects.filter(transaction=event.ledger_transaction).first(),
        "account": LedgerAccount.objects.get(user=alice, asset=Asset.COIN),
        "giftevent": event,
        "payout": make_payout(bob, status=PayoutStatus.PAID, diamonds=10_000, net=Money("50.00", "USD")),
        "staffaction": staff_action_record(actor=alice, action="test", target=gift, reason="A line to protect."),
    }


def gift_form(gift: Gift, **changes) -> dict:
    data = {
        "name": gift.name,
        "slug": gift.slug,
        "coin_cost": gift.coin_cost,
        "artwork": gift.artwork,
        "tier": gift.tier,
        "is_active": "on" if gift.is_active else "",
        "countries": json.dumps(gift.countries),
        "sort_order": gift.sort_order,
    }
    return {**data, **changes}


SETTINGS_FORMS: dict[type, dict[str, object]] = {  # each settings page's fields, as staff submit them unchanged
    EconomySettings: {"diamond_value_0": "0.005", "diamond_value_1": "USD"},
    GiftingSettings: {"gift_confirm_above_coins": 5_000},
    PayoutSettings: {
        "payout_minimum_0": "50.00",
        "payout_minimum_1": "USD",
        "payout_approval_above_0": "1000.00",
        "payout_approval_above_1": "USD",
        "earnings_hold_days": 7,
        "payout_method_hold_hours": 72,
        "exchange_rate_max_age_hours": 48,
    },
}
SETTINGS_PAGES = {
    EconomySettings: "wallet_economysettings_change",
    GiftingSettings: "gifting_giftingsettings_change",
    PayoutSettings: "payouts_payoutsettings_change",
}


def settings_form(model, **changes) -> dict:
    data = dict(SETTINGS_FORMS[model])
    # Thresholds added to the model later keep their defaults.
    data.update(
        {
            field.name: field.default
            for field in model._meta.concrete_fields
            if field.editable
            and not field.primary_key
            and field.name not in data
            and f"{field.name}_0" not in data
            and not field.name.endswith("_currency")
        }
    )
    return {**data, **changes}


def settings_model_of(field: str):
    return next(model for model, data in SETTINGS_FORMS.items() if field in data or f"{field}_0" in data)


# --- Groups ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_staff_groups_hold_exactly_their_permissions_and_syncing_again_changes_nothing():
    staff_groups_sync()
    first = {
        group.name: set(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.filter(name__in=GROUP_PERMISSIONS)
    }

    staff_groups_sync()

    again = {
        group.name: set(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.filter(name__in=GROUP_PERMISSIONS)
    }
    assert again == first
    assert {"change_gift", "add_gift", "change_coinpackageprice"} <= first["catalogue"]
    assert not {"change_payout", "change_economysettings", "view_topup"} & first["catalogue"]
    assert {"change_payout", "change_economysettings", "change_rate"} <= first["finance"]
    assert not {"change_gift", "add_gift", "change_user"} & first["finance"]
    assert {"change_user", "view_topup", "view_payout", "view_ledgerentry"} <= first["support"]
    assert not {"change_gift", "change_payout", "add_user", "delete_user"} & first["support"]
    every = set().union(*first.values())
    assert (
        not {
            "delete_topup",
            "delete_ledgerentry",
            "delete_payout",
            "delete_giftevent",
            "delete_staffaction",
            "change_staffaction",
        }
        & every
    )


# --- Allowed and denied pages, per group -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("persona", "admin_page", "status"),
    [
        ("catalogue", "gifting_gift_changelist", 200),
        ("catalogue", "gifting_gift_add", 200),
        ("catalogue", "wallet_coinpackage_add", 200),
        ("catalogue", "wallet_country_add", 200),
        ("catalogue", "wallet_economysettings_changelist", 200),
        ("catalogue", "gifting_giftingsettings_changelist", 200),
        ("catalogue", "payouts_payoutsettings_changelist", 200),
        ("catalogue", "payouts_payout_changelist", 403),
        ("catalogue", "wallet_topup_changelist", 403),
        ("catalogue", "accounts_user_changelist", 403),
        ("catalogue", "reports", 403),
        ("support", "accounts_user_changelist", 200),
        ("support", "wallet_topup_changelist", 200),
        ("support", "wallet_ledgerentry_changelist", 200),
        ("support", "gifting_giftevent_changelist", 200),
        ("support", "payouts_payout_changelist", 200),
        ("support", "reports", 200),
        ("support", "gifting_gift_add", 403),
        ("support", "wallet_economysettings_changelist", 403),
        ("support", "gifting_giftingsettings_changelist", 403),
        ("support", "payouts_payoutsettings_changelist", 403),
        ("support", "exchange_rate_changelist", 403),
        ("finance", "payouts_payout_changelist", 200),
        ("finance", "wallet_economysettings_changelist", 200),
        ("finance", "gifting_giftingsettings_changelist", 200),
        ("finance", "payouts_payoutsettings_changelist", 200),
        ("finance", "exchange_rate_changelist", 200),
        ("finance", "exchange_rate_add", 200),
        ("finance", "accounts_staffaction_changelist", 200),
        ("finance", "reports", 200),
        ("finance", "gifting_gift_add", 403),
        ("finance", "wallet_coinpackage_add", 403),
        ("finance", "accounts_user_add", 403),
    ],
)
def test_each_group_opens_its_pages_and_no_others(client, request, persona, admin_page, status):
    admin_login(client, request.getfixturevalue(persona))

    assert client.get(url(admin_page)).status_code == status


@pytest.mark.django_db
def test_catalogue_staff_cannot_open_a_payout_or_approve_it(client, catalogue, awaiting_payout):
    admin_login(client, catalogue)

    assert client.get(url("payouts_payout_change", awaiting_payout.pk)).status_code == 403
    response = client.post(
        url("payouts_payout_changelist"), {"action": "approve", "_selected_action": [awaiting_payout.pk]}
    )

    assert response.status_code == 403
    awaiting_payout.refresh_from_db()
    assert awaiting_payout.status == PayoutStatus.AWAITING_APPROVAL


@pytest.mark.django_db
def test_support_sees_payouts_but_is_not_offered_approve_or_reject(client, support, awaiting_payout):
    admin_login(client, support)

    page = client.get(url("payouts_payout_changelist"))
    response = client.post(
        url("payouts_payout_changelist"), {"action": "approve", "_selected_action": [awaiting_payout.pk]}
    )

    action_form = page.context["action_form"]  # None when no action at all is offered
    offered = {name for name, _label in action_form.fields["action"].choices} if action_form else set()
    assert not {"approve", "reject"} & offered
    assert response.status_code in (200, 302)
    awaiting_payout.refresh_from_db()
    assert awaiting_payout.status == PayoutStatus.AWAITING_APPROVAL
    assert awaiting_payout.reviewed_by is None


@pytest.mark.django_db
def test_finance_is_offered_approve_and_reject(client, finance, awaiting_payout):
    admin_login(client, finance)

    page = client.get(url("payouts_payout_changelist"))

    offered = {name for name, _label in page.context["action_form"].fields["action"].choices}
    assert {"approve", "reject"} <= offered


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["support", "finance"])
def test_support_and_finance_cannot_change_a_gift(client, request, persona, gift):
    admin_login(client, request.getfixturevalue(persona))

    response = client.post(url("gifting_gift_change", gift.pk), gift_form(gift, coin_cost=1))

    assert response.status_code == 403
    gift.refresh_from_db()
    assert gift.coin_cost == 99
    assert not StaffAction.objects.exists()


@pytest.mark.django_db
def test_support_freezes_an_account_but_cannot_grant_staff_rights(client, support, alice):
    admin_login(client, support)
    form = client.get(url("accounts_user_change", alice.pk)).context["adminform"].form

    response = client.post(
        url("accounts_user_change", alice.pk),
        {"is_active": "", "is_staff": "on", "is_superuser": "on", "email": "evil@example.com"},
    )

    assert [name for name, field in form.fields.items() if not field.disabled] == ["is_active"]
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.is_active, alice.is_staff, alice.is_superuser, alice.email) == (
        False,
        False,
        False,
        "alice@example.com",
    )
    line = StaffAction.objects.get()
    assert (line.actor, line.action, line.target_type, line.target_id) == (
        support,
        "change",
        "accounts.user",
        str(alice.pk),
    )
    assert (line.before["is_active"], line.after["is_active"]) == (True, False)
    assert line.before["password"] == "••••"


@pytest.mark.django_db
def test_support_cannot_change_another_staff_member_or_set_a_password(client, support, finance):
    admin_login(client, support)

    response = client.post(url("accounts_user_change", finance.pk), {"is_active": ""})
    password = client.get(url("auth_user_password_change", support.pk))

    assert response.status_code == 403
    finance.refresh_from_db()
    assert finance.is_active
    assert password.status_code in (403, 404)


# --- Money records are read-only, for everyone ------------------------------------------------------


MONEY_MODELS = {
    "topup": "wallet_topup",
    "transaction": "wallet_ledgertransaction",
    "entry": "wallet_ledgerentry",
    "account": "wallet_ledgeraccount",
    "giftevent": "gifting_giftevent",
    "payout": "payouts_payout",
    "staffaction": "accounts_staffaction",
}


def row_state(instance) -> dict:
    return type(instance)._default_manager.filter(pk=instance.pk).values().get()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["superuser", "finance"])
@pytest.mark.parametrize("record", list(MONEY_MODELS))
def test_money_records_cannot_be_added_changed_or_deleted_through_admin(client, request, persona, record, money_rows):
    admin_login(client, request.getfixturevalue(persona))
    row, prefix = money_rows[record], MONEY_MODELS[record]
    before, count, actions = row_state(row), type(row)._default_manager.count(), StaffAction.objects.count()

    add = client.post(url(f"{prefix}_add"), {})
    change = client.post(url(f"{prefix}_change", row.pk), {"memo": "edited", "status": "failed", "amount": "1"})
    delete = client.post(url(f"{prefix}_delete", row.pk), {"post": "yes"})
    bulk = client.post(
        url(f"{prefix}_changelist"), {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert bulk.status_code in (200, 302)  # "delete selected" is not offered: nothing happens
    assert row_state(row) == before
    assert type(row)._default_manager.count() == count
    assert StaffAction.objects.count() == actions


@pytest.mark.django_db
def test_money_record_pages_open_read_only_for_finance(client, finance, money_rows):
    admin_login(client, finance)

    for record, prefix in MONEY_MODELS.items():
        response = client.get(url(f"{prefix}_change", money_rows[record].pk))
        assert response.status_code == 200, record
        assert b'name="_save"' not in response.content, record


# --- Every model is in admin ------------------------------------------------------------------------


def test_every_model_of_the_staff_apps_is_registered():
    apps_in_admin = {
        "accounts",
        "wallet",
        "gifting",
        "payouts",
        "paysandbox",
        "exchange",
        "otp_totp",
        "otp_static",
        "auth",
    }
    inline_only = {"otp_static.StaticToken", "auth.Permission"}

    missing = [
        model._meta.label
        for model in apps.get_models()
        if model._meta.app_label in apps_in_admin
        and model._meta.label not in inline_only
        and model not in admin.site._registry
    ]

    assert missing == []


# --- Audit log ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_gift_price_change_is_logged_with_before_and_after(client, catalogue, gift):
    admin_login(client, catalogue)

    response = client.post(url("gifting_gift_change", gift.pk), gift_form(gift, coin_cost=149))

    assert response.status_code == 302
    gift.refresh_from_db()
    assert gift.coin_cost == 149
    line = StaffAction.objects.get()
    assert (line.actor, line.action, line.target_type, line.target_id) == (
        catalogue,
        "change",
        "gifting.gift",
        str(gift.pk),
    )
    assert (line.before["coin_cost"], line.after["coin_cost"]) == (99, 149)
    assert line.before["name"] == line.after["name"] == "Test Star"


@pytest.mark.django_db
def test_a_package_price_change_and_a_delete_are_logged(client, catalogue, superuser):
    package = CoinPackage.objects.create(coins=123, sort_order=99)
    price = CoinPackagePrice.objects.create(package=package, price=Money("1.99", "USD"))
    admin_login(client, catalogue)

    changed = client.post(
        url("wallet_coinpackageprice_change", price.pk), {"package": package.pk, "price_0": "2.49", "price_1": "USD"}
    )
    client.logout()
    admin_login(client, superuser)
    deleted = client.post(url("wallet_coinpackageprice_delete", price.pk), {"post": "yes"})

    assert (changed.status_code, deleted.status_code) == (302, 302)
    assert not CoinPackagePrice.objects.filter(pk=price.pk).exists()
    change, delete = StaffAction.objects.order_by("id")
    assert (change.action, change.before["price"], change.after["price"]) == ("change", "1.99 USD", "2.49 USD")
    assert (delete.actor, delete.action, delete.target_id, delete.after) == (superuser, "delete", str(price.pk), None)
    assert delete.before["price"] == "2.49 USD"


@pytest.mark.django_db
def test_a_bulk_delete_logs_every_row(client, superuser):
    Country.objects.create(code="ZZ", currency="USD", recharge_unavailable_reason="Testland")
    Country.objects.create(code="ZY", currency="EUR", recharge_unavailable_reason="Otherland")
    admin_login(client, superuser)

    client.post(
        url("wallet_country_changelist"), {"action": "delete_selected", "_selected_action": ["ZZ", "ZY"], "post": "yes"}
    )

    assert not Country.objects.filter(code__in=["ZZ", "ZY"]).exists()
    lines = StaffAction.objects.filter(action="delete", target_type="wallet.country")
    assert sorted(lines.values_list("target_id", flat=True)) == ["ZY", "ZZ"]
    assert {line.before["recharge_unavailable_reason"] for line in lines} == {"Testland", "Otherland"}


@pytest.mark.django_db
def test_the_audit_log_is_searchable_and_filterable(client, finance, catalogue, gift):
    staff_action_record(actor=catalogue, action="change", target=gift, before={"coin_cost": 1}, after={})
    staff_action_record(actor=finance, action="payout.approve", target=gift)
    admin_login(client, finance)

    by_email = client.get(url("accounts_staffaction_changelist"), {"q": "cat.catalogue"})
    by_action = client.get(url("accounts_staffaction_changelist"), {"action__exact": "payout.approve"})

    assert [line.actor for line in by_email.context["cl"].result_list] == [catalogue]
    assert [line.actor for line in by_action.context["cl"].result_list] == [finance]


# --- Validation -----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"coin_cost": 0}, "coin_cost", "at least 1 coin"),
        ({"countries": '["US", "XX"]'}, "countries", "Unknown country codes: XX"),
        ({"countries": '"US"'}, "countries", "two-letter country codes"),
    ],
)
def test_bad_gifts_are_refused_with_a_clear_message(client, catalogue, gift, changes, field, message):
    Country.objects.get_or_create(code="US", defaults={"currency": "USD"})
    admin_login(client, catalogue)

    response = client.post(url("gifting_gift_change", gift.pk), gift_form(gift, **changes))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    gift.refresh_from_db()
    assert gift.coin_cost == 99 and gift.countries == []
    assert not StaffAction.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("0.00", "USD", "more than zero"),
        ("150.5", "JPY", "JPY has 0 decimal places"),
        ("9.99", "CHF", "CHF is not one of the available choices"),  # the picker offers supported currencies only
    ],
)
def test_bad_package_prices_are_refused(client, catalogue, amount, currency, message):
    package = CoinPackage.objects.create(coins=321, sort_order=99)
    admin_login(client, catalogue)

    response = client.post(
        url("wallet_coinpackageprice_add"), {"package": package.pk, "price_0": amount, "price_1": currency}
    )

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors["price"])
    assert not CoinPackagePrice.objects.filter(package=package).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"diamond_value_0": "0"}, "diamond_value", "more than zero"),
        ({"payout_minimum_1": "EUR"}, "payout_minimum", "Use the diamond value's currency, USD"),
        ({"payout_approval_above_1": "GBP"}, "payout_approval_above", "Use the diamond value's currency, USD"),
        ({"payout_approval_above_0": "20.00"}, "payout_approval_above", "cannot be below the payout minimum"),
        ({"earnings_hold_days": 91}, "earnings_hold_days", "between 0 and 90 days"),
        ({"payout_method_hold_hours": 721}, "payout_method_hold_hours", "between 0 and 720 hours"),
        ({"exchange_rate_max_age_hours": 0}, "exchange_rate_max_age_hours", "between 1 and 720 hours"),
        ({"gift_confirm_above_coins": 0}, "gift_confirm_above_coins", "at least 1 coin"),
    ],
)
def test_bad_economy_settings_are_refused_and_nothing_is_saved(client, finance, changes, field, message):
    model = settings_model_of(field)
    settings_row, _ = model.objects.get_or_create(pk=1)
    before = row_state(settings_row)
    admin_login(client, finance)

    response = client.post(url(SETTINGS_PAGES[model], 1), settings_form(model, **changes))

    assert response.status_code == 200
    assert message in " ".join(response.context["adminform"].form.errors[field])
    assert row_state(settings_row) == before
    assert not StaffAction.objects.exists()


@pytest.mark.django_db
def test_good_economy_settings_are_saved_and_logged(client, finance):
    EconomySettings.objects.get_or_create(pk=1)
    PayoutSettings.objects.get_or_create(pk=1)
    admin_login(client, finance)

    economy_response = client.post(
        url(SETTINGS_PAGES[EconomySettings], 1), settings_form(EconomySettings, diamond_value_0="0.006")
    )
    payout_response = client.post(
        url(SETTINGS_PAGES[PayoutSettings], 1), settings_form(PayoutSettings, earnings_hold_days=14)
    )

    assert (economy_response.status_code, payout_response.status_code) == (302, 302)
    row = EconomySettings.objects.get()
    assert (row.diamond_value, PayoutSettings.objects.get().earnings_hold_days) == (Money(Decimal("0.006"), "USD"), 14)
    economy_line, payout_line = StaffAction.objects.order_by("id")
    assert (economy_line.action, economy_line.before["diamond_value"], economy_line.after["diamond_value"]) == (
        "change",
        "0.005000 USD",
        "0.006 USD",
    )
    assert (payout_line.action, payout_line.before["earnings_hold_days"], payout_line.after["earnings_hold_days"]) == (
        "change",
        7,
        14,
    )
    assert Valuation().diamonds(1_000) == Money("6.00", "USD")  # readers see the new value at once


@pytest.mark.django_db
def test_catalogue_staff_may_look_at_economy_settings_but_not_change_them(client, catalogue):
    EconomySettings.objects.get_or_create(pk=1)
    PayoutSettings.objects.get_or_create(pk=1)
    admin_login(client, catalogue)

    response = client.post(url(SETTINGS_PAGES[PayoutSettings], 1), settings_form(PayoutSettings, earnings_hold_days=30))
    economy_response = client.post(
        url(SETTINGS_PAGES[EconomySettings], 1), settings_form(EconomySettings, diamond_value_0="0.006")
    )

    assert (response.status_code, economy_response.status_code) == (403, 403)
    assert PayoutSettings.objects.get().earnings_hold_days == 7
    assert EconomySettings.objects.get().diamond_value == Money(Decimal("0.005"), "USD")


def test_the_top_up_list_shows_a_short_id_titled_with_the_whole_and_finds_a_top_up_by_it(client, alice):
    member = make_staff(email="fin@example.com", group="finance")
    admin_login(client, member)
    topup = make_topup(alice, coins=700, amount=Money("9.99", "USD"))
    other = make_topup(alice, coins=1_400, amount=Money("19.99", "USD"))
    public_id = str(topup.public_id)

    page = client.get(reverse("admin:wallet_topup_changelist")).content.decode()
    found = client.get(reverse("admin:wallet_topup_changelist"), {"q": public_id[:8].upper()}).content.decode()

    assert f'<span title="{public_id}">{public_id[:8]}…</span>' in page
    assert f">{public_id}<" not in page  # the whole id no longer fills the column
    assert public_id in found and str(other.public_id) not in found


def test_the_top_up_list_shows_a_reversal_beside_the_status(client, alice):
    member = make_staff(email="fin@example.com", group="finance")
    admin_login(client, member)
    topup = make_topup(alice, coins=700, amount=Money("9.99", "USD"))
    topup_reverse(topup_id=topup.pk, staff=member, kind="chargeback", reason="bank dispute")
    topup = TopUp.objects.get(pk=topup.pk)

    page = client.get(reverse("admin:wallet_topup_changelist")).content.decode()

    assert f"{topup.get_status_display()} · Charged back" in page
