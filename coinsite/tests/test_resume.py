"""Every sudo and 2FA re-check continues the action that needed it: the interrupted form is kept
(signed, for this user, once, for a while), and runs again only when the person presses Continue."""

import re

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from coinsite.accounts.tests.factories import PASSWORD, enroll_totp, next_totp_code
from coinsite.lib import access, resume
from payouts.models import Payout, PayoutMethod
from payouts.tests.support import add_method, give_diamonds, money_state

pytestmark = pytest.mark.django_db

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def stale(client: Client) -> None:
    session = client.session
    session[access.SUDO_SESSION_KEY] = 0
    session.save()


def continue_page(client: Client) -> tuple[str, dict[str, str]]:
    return continue_page_from(client.get(reverse("accounts:resume")).content.decode())


def continue_page_from(html: str) -> tuple[str, dict[str, str]]:
    """The Continue page's form: where it posts and its fields, as a browser would send them."""
    form = re.search(
        r'<form class="form card" method="post" action="([^"]+)" data-testid="resume-form">(.*?)</form>', html, re.S
    )
    assert form is not None, html
    fields = dict(HIDDEN.findall(form.group(2)))
    fields.pop("csrfmiddlewaretoken", None)
    return form.group(1), fields


@pytest.fixture
def creator(client, bob):
    device, _codes = enroll_totp(bob)
    client.force_login(bob)
    stale(client)
    return device


def test_after_the_payout_code_the_payout_request_continues(client, bob, creator):
    give_diamonds(bob, 20_000)
    method = add_method(bob)
    data = {"diamonds": "12000", "method": str(method.pk), "idempotency_key": "page-1"}
    before = money_state()

    asked = client.post(reverse("payouts:request"), data)
    assert asked["Location"].startswith(reverse("accounts:confirm"))
    confirmed = client.post(reverse("accounts:confirm"), {"code": next_totp_code(creator), "next": "/creator/"})

    assert confirmed["Location"] == reverse("accounts:resume")
    assert money_state() == before  # nothing runs on the re-check or the redirect
    page = client.get(reverse("accounts:resume"))
    body = page.content.decode()
    assert "Request a payout of 12,000 diamonds" in body
    assert money_state() == before  # nor on showing the Continue page
    action, fields = continue_page_from(body)
    assert (action, fields) == (reverse("payouts:request"), data)

    done = client.post(action, fields)
    payout = Payout.objects.get()
    assert done["Location"] == reverse("payouts:payout", args=[payout.public_id])
    assert (payout.diamonds, payout.method_id) == (12_000, method.pk)


def test_the_kept_form_is_offered_once(client, bob, creator):
    give_diamonds(bob, 20_000)
    method = add_method(bob)
    client.post(reverse("payouts:request"), {"diamonds": "12000", "method": str(method.pk), "idempotency_key": "k"})
    client.post(reverse("accounts:confirm"), {"code": next_totp_code(creator), "next": "/creator/"})

    continue_page(client)
    again = client.get(reverse("accounts:resume"))

    assert again.status_code == 302 and again["Location"] == reverse("accounts:security")
    assert resume.SESSION_KEY not in client.session


def test_continuing_twice_pays_once(client, bob, creator):
    give_diamonds(bob, 30_000)
    method = add_method(bob)
    client.post(reverse("payouts:request"), {"diamonds": "12000", "method": str(method.pk), "idempotency_key": "k"})
    client.post(reverse("accounts:confirm"), {"code": next_totp_code(creator), "next": "/creator/"})
    action, fields = continue_page(client)

    client.post(action, fields)
    client.post(action, fields)  # a double click, or the back button

    assert Payout.objects.count() == 1


def test_the_payout_method_form_continues_after_the_code(client, bob, creator):
    data = {"kind": "paypal", "holder_name": "Bob", "currency": "USD", "paypal_email": "bob@example.com"}

    client.post(reverse("payouts:method-add"), data)
    confirmed = client.post(reverse("accounts:confirm"), {"code": next_totp_code(creator), "next": "/creator/"})
    assert confirmed["Location"] == reverse("accounts:resume")
    assert not PayoutMethod.objects.exists()
    action, fields = continue_page(client)
    client.post(action, fields)

    assert PayoutMethod.objects.get().paypal_email == "bob@example.com"


def test_removing_a_method_continues_after_the_code(client, bob, creator):
    method = add_method(bob)

    client.post(reverse("payouts:method-remove", args=[method.pk]))
    client.post(reverse("accounts:confirm"), {"code": next_totp_code(creator), "next": "/creator/"})
    action, fields = continue_page(client)
    assert action == reverse("payouts:method-remove", args=[method.pk])
    client.post(action, fields)

    method.refresh_from_db()
    assert method.retired_at is not None


def test_a_sudo_password_recheck_continues_the_action(client, alice):
    """A POST-only sudo page (regenerating backup codes) used to land on a GET of itself: 405."""
    enroll_totp(alice)
    client.force_login(alice)
    stale(client)
    old = set(alice.staticdevice_set.get().token_set.values_list("token", flat=True))

    asked = client.post(reverse("accounts:backup-codes"))
    next_url = reverse("accounts:backup-codes")
    assert asked["Location"] == f"{reverse('accounts:confirm')}?next={next_url.replace('/', '%2F')}"
    device = alice.totpdevice_set.get()
    confirmed = client.post(reverse("accounts:confirm"), {"code": next_totp_code(device), "next": next_url})
    assert confirmed["Location"] == reverse("accounts:resume")
    action, fields = continue_page(client)
    page = client.post(action, fields)

    assert page.status_code == 200
    assert set(alice.staticdevice_set.get().token_set.values_list("token", flat=True)).isdisjoint(old)


def test_the_profile_form_with_a_new_country_continues_after_the_recheck(client, alice):
    client.force_login(alice)
    data = {
        "display_name": "Alice A.",
        "country": "JP",
        "preferred_currency": "JPY",
        "language": "",
        "time_zone": "Asia/Tokyo",
    }

    refused = client.post(reverse("accounts:profile"), data)
    assert refused.status_code == 403
    back = reverse("accounts:profile") + "?country=JP"
    confirmed = client.post(reverse("accounts:confirm"), {"password": PASSWORD, "next": back})
    assert confirmed["Location"] == reverse("accounts:resume")
    action, fields = continue_page(client)
    assert fields == data
    client.post(action, fields)

    alice.refresh_from_db()
    assert (alice.display_name, alice.preferred_currency) == ("Alice A.", "JPY")
    assert alice.country_changes.get().to_country == "JP"


def test_passwords_and_codes_are_never_kept(client, alice):
    client.force_login(alice)
    stale(client)
    client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "N3w-secret-horse", "password2": "N3w-secret-horse"},
    )

    token = client.session[resume.SESSION_KEY]
    kept = signing.loads(token, salt=resume.SALT)
    assert kept["fields"] == []
    assert PASSWORD not in str(kept)


def test_a_recheck_for_another_page_does_not_offer_the_kept_form(client, bob, creator):
    method = add_method(bob)
    client.post(reverse("payouts:method-remove", args=[method.pk]))

    confirmed = client.post(
        reverse("accounts:confirm"), {"code": next_totp_code(creator), "next": reverse("accounts:security")}
    )

    assert confirmed["Location"] == reverse("accounts:security")


def test_another_users_kept_form_is_not_offered(client, alice, bob, creator):
    method = add_method(bob)
    client.post(reverse("payouts:method-remove", args=[method.pk]))
    token = client.session[resume.SESSION_KEY]

    other = Client()
    other.force_login(alice)
    session = other.session
    session[resume.SESSION_KEY] = token
    session.save()
    response = other.get(reverse("accounts:resume"))

    assert response["Location"] == reverse("accounts:security")
    assert PayoutMethod.objects.get(pk=method.pk).retired_at is None


@pytest.mark.parametrize("spoil", ["tamper", "expire"])
def test_a_tampered_or_expired_kept_form_is_not_offered(client, bob, creator, monkeypatch, spoil):
    method = add_method(bob)
    client.post(reverse("payouts:method-remove", args=[method.pk]))
    session = client.session
    if spoil == "tamper":
        payload = signing.loads(session[resume.SESSION_KEY], salt=resume.SALT)
        payload["path"] = "/creator/methods/999/remove/"
        session[resume.SESSION_KEY] = signing.dumps(payload, salt="someone-else")
        session.save()
    else:
        monkeypatch.setattr(resume, "MAX_AGE_SECONDS", -1)

    response = client.get(reverse("accounts:resume"))

    assert response["Location"] == reverse("accounts:security")


def test_a_huge_form_is_not_kept(client, bob, creator):
    client.post(reverse("payouts:request"), {"diamonds": "1" * 10_000, "method": "1", "idempotency_key": "k"})

    assert resume.SESSION_KEY not in client.session
