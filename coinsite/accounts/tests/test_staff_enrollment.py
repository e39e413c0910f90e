"""A staff account's first authenticator needs a code mailed to its verified address first."""

import re
import time

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from coinsite.accounts import staff_enrollment
from coinsite.accounts.tests.factories import enroll_totp, totp_code
from coinsite.lib import access

ENROLL = reverse("accounts:enroll")
EMAIL_STEP = reverse("accounts:enroll-email")

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    """A session as after a stolen password: logged in, sudo fresh, no 2FA device."""
    client = Client()
    client.force_login(user)
    session = client.session
    session[access.SUDO_SESSION_KEY] = 2**40
    session.save()
    return client


def mailed_code(message) -> str:
    match = re.search(r"\b(\d{8})\b", message.body)
    assert match is not None, message.body
    return match.group(1)


def test_a_staff_password_alone_cannot_enroll_an_authenticator(charlie, mailoutbox):
    client = signed_in(charlie)

    page = client.get(ENROLL)
    posted = client.post(ENROLL, {"code": "123456"})

    assert page.status_code == 302 and page.url == EMAIL_STEP
    assert posted.status_code == 302 and posted.url == EMAIL_STEP
    assert not TOTPDevice.objects.filter(user=charlie).exists()
    assert mailoutbox == []
    assert "c•••••e@example.com" in client.get(EMAIL_STEP).content.decode()


def test_the_mailed_code_opens_enrollment_and_the_authenticator_is_added(charlie, mailoutbox):
    client = signed_in(charlie)

    sent = client.post(EMAIL_STEP, {"action": "send"})
    [message] = mailoutbox
    entered = client.post(EMAIL_STEP, {"code": mailed_code(message)})
    page = client.get(ENROLL)
    device = TOTPDevice.objects.get(user=charlie, confirmed=False)
    confirmed = client.post(ENROLL, {"code": totp_code(device)})

    assert sent.status_code == 302 and message.to == ["charlie@example.com"]
    assert "staff set-up code" in message.subject
    assert entered.status_code == 302 and entered.url == ENROLL
    assert page.status_code == 200
    assert confirmed.status_code == 200
    device.refresh_from_db()
    assert device.confirmed is True


def test_the_code_mail_is_text_and_html_from_the_email_templates(charlie, mailoutbox):
    client = signed_in(charlie)

    client.post(EMAIL_STEP, {"action": "send"})

    [message] = mailoutbox
    code = mailed_code(message)
    [(html, mimetype)] = message.alternatives
    assert message.subject == "Your Coinsite staff set-up code"
    assert "valid for 15 minutes" in message.body
    assert "someone else knows your password" in message.body
    assert mimetype == "text/html"
    assert f'<p class="code">{code}</p>' in html
    assert "Coinsite — coins, gifts and live streams." in html  # the frame every HTML email shares


def test_a_wrong_code_opens_nothing_and_five_wrong_codes_burn_the_code(charlie, mailoutbox):
    client = signed_in(charlie)
    client.post(EMAIL_STEP, {"action": "send"})
    code = mailed_code(mailoutbox[0])
    wrong = f"{(int(code) + 1) % 10**8:08d}"

    responses = [client.post(EMAIL_STEP, {"code": wrong}) for _ in range(staff_enrollment.MAX_ATTEMPTS)]
    too_late = client.post(EMAIL_STEP, {"code": code})

    assert all(r.status_code == 400 and "not the one we sent" in r.content.decode() for r in responses)
    assert too_late.status_code == 400 and "tried too often" in too_late.content.decode()
    assert client.get(ENROLL).url == EMAIL_STEP
    assert not TOTPDevice.objects.filter(user=charlie).exists()


def test_an_expired_code_is_refused(charlie, mailoutbox, monkeypatch):
    client = signed_in(charlie)
    client.post(EMAIL_STEP, {"action": "send"})
    code = mailed_code(mailoutbox[0])
    later = time.time() + staff_enrollment.CODE_SECONDS + 1
    monkeypatch.setattr(staff_enrollment.time, "time", lambda: later)

    response = client.post(EMAIL_STEP, {"code": code})

    assert response.status_code == 400 and "expired" in response.content.decode()
    assert client.get(ENROLL).url == EMAIL_STEP


def test_a_new_code_only_once_a_minute(charlie, mailoutbox):
    client = signed_in(charlie)

    client.post(EMAIL_STEP, {"action": "send"})
    again = client.post(EMAIL_STEP, {"action": "send"})

    assert len(mailoutbox) == 1
    assert again.status_code == 400 and "less than a minute ago" in again.content.decode()


def test_the_check_holds_for_one_session_only(charlie, mailoutbox):
    first = signed_in(charlie)
    first.post(EMAIL_STEP, {"action": "send"})
    first.post(EMAIL_STEP, {"code": mailed_code(mailoutbox[0])})

    other = signed_in(charlie)

    assert first.get(ENROLL).status_code == 200
    assert other.get(ENROLL).url == EMAIL_STEP


def test_without_a_verified_address_no_code_is_sent(charlie, mailoutbox):
    EmailAddress.objects.filter(user=charlie).update(verified=False)
    client = signed_in(charlie)

    page = client.get(EMAIL_STEP)
    sent = client.post(EMAIL_STEP, {"action": "send"})

    assert "no verified email address" in page.content.decode()
    assert sent.status_code == 400
    assert mailoutbox == []


def test_staff_with_an_authenticator_and_viewers_skip_the_email_step(charlie, alice):
    enroll_totp(charlie)

    assert signed_in(charlie).get(ENROLL).status_code == 200
    assert signed_in(alice).get(ENROLL).status_code == 200
    assert signed_in(alice).get(EMAIL_STEP).url == ENROLL


def test_the_email_step_is_reachable_for_staff_without_a_device(charlie):
    """The staff 2FA middleware sends such staff to enrollment; the email step must not be behind it."""
    client = signed_in(charlie)

    assert client.get(reverse("wallet:index")).url.startswith(ENROLL)
    assert client.get(EMAIL_STEP).status_code == 200
