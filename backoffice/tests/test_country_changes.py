"""Support staff decide country changes in admin: an approval applies at once (audited), a rejection keeps
the country, and staff outside the support group cannot decide. The change itself and its cooling-off
are tested in coinsite/accounts/tests/test_country_change.py."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from backoffice.tests.support import admin_login, make_staff
from coinsite.accounts import country
from coinsite.accounts.models import CountryChange, CountryChangeStatus, StaffAction

Status = CountryChangeStatus

pytestmark = pytest.mark.django_db


def admin_action(client, action: str, change: CountryChange, reason: str = "Moved, checked ID"):
    return client.post(
        reverse("admin:accounts_countrychange_changelist"),
        {"action": action, helpers.ACTION_CHECKBOX_NAME: [change.pk], "confirm": "1", "reason": reason},
    )


def test_support_staff_approve_a_change_in_admin_and_it_applies_at_once(client, alice):
    support = make_staff(email="sam.support@example.com", group="support")
    admin_login(client, support)
    change = country.country_change_request(user=alice, country="JP")

    response = admin_action(client, "approve", change)

    assert response.status_code == 302
    change.refresh_from_db()
    alice.refresh_from_db()
    assert (change.status, change.decided_by, alice.country) == (Status.APPROVED, support, "JP")
    audit = StaffAction.objects.get(action="country_change.approved")
    assert (audit.actor, audit.target_id, audit.reason) == (support, str(change.pk), "Moved, checked ID")
    assert admin_action(client, "approve", change).status_code == 302  # a second approval changes nothing
    assert StaffAction.objects.filter(action__startswith="country_change").count() == 1


def test_staff_reject_a_change_and_the_country_stays(client, alice):
    support = make_staff(email="sam.support@example.com", group="support")
    admin_login(client, support)
    change = country.country_change_request(user=alice, country="CN")

    admin_action(client, "reject", change, reason="Card and IP say otherwise")

    change.refresh_from_db()
    alice.refresh_from_db()
    assert (change.status, alice.country) == (Status.REJECTED, "US")
    assert country.country_changes_apply_due(now=change.effective_at) == 0


def test_catalogue_staff_cannot_approve(client, alice):
    catalogue = make_staff(email="cat.catalogue@example.com", group="catalogue")
    admin_login(client, catalogue)
    change = country.country_change_request(user=alice, country="JP")

    admin_action(client, "approve", change)

    change.refresh_from_db()
    alice.refresh_from_db()
    assert (change.status, alice.country) == (Status.PENDING, "US")
