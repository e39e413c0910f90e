import pytest
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from coinsite.accounts.tests.factories import PASSWORD, enroll_totp, next_totp_code, totp_code
from coinsite.lib import access

LOGIN = reverse("account_login")
STAGE = reverse("accounts:two-factor-login")


def _password_step(client, user):
    return client.post(LOGIN, {"login": user.email, "password": PASSWORD})


def _logged_in_user_id(client):
    return client.session.get("_auth_user_id")


@pytest.mark.django_db
def test_enrollment_shows_qr_and_secret_and_is_confirmed_by_the_first_code(client, alice):
    client.force_login(alice)
    sudo_session(client)

    page = client.get(reverse("accounts:enroll"))

    assert page.status_code == 200
    body = page.content.decode()
    assert "data:image/svg+xml" in body
    device = TOTPDevice.objects.get(user=alice)
    assert device.confirmed is False
    assert page.context["enrollment"].secret in body

    response = client.post(reverse("accounts:enroll"), {"code": totp_code(device)})

    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed is True
    codes = response.context["codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(code in response.content.decode() for code in codes)
    assert StaticToken.objects.filter(device__user=alice).count() == 10
    assert client.session["otp_device_id"] == device.persistent_id


@pytest.mark.django_db
def test_enrollment_with_a_wrong_code_changes_nothing(client, alice):
    client.force_login(alice)
    sudo_session(client)
    client.get(reverse("accounts:enroll"))
    device = TOTPDevice.objects.get(user=alice)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"

    response = client.post(reverse("accounts:enroll"), {"code": wrong})

    assert response.status_code == 200
    assert "did not match" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    assert not StaticToken.objects.filter(device__user=alice).exists()


@pytest.mark.django_db
def test_enrollment_accepts_the_right_code_right_after_a_wrong_one(client, alice):
    client.force_login(alice)
    sudo_session(client)
    client.get(reverse("accounts:enroll"))
    device = TOTPDevice.objects.get(user=alice)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"
    client.post(reverse("accounts:enroll"), {"code": wrong})

    response = client.post(reverse("accounts:enroll"), {"code": totp_code(device)})

    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed is True
    assert device.throttling_failure_count == 0
    assert len(response.context["codes"]) == 10


@pytest.mark.django_db
def test_enrollment_after_many_wrong_codes_still_takes_the_right_one(client, alice):
    client.force_login(alice)
    sudo_session(client)
    client.get(reverse("accounts:enroll"))
    device = TOTPDevice.objects.get(user=alice)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"
    for _ in range(4):
        client.post(reverse("accounts:enroll"), {"code": wrong})

    client.post(reverse("accounts:enroll"), {"code": totp_code(device)})

    device.refresh_from_db()
    assert device.confirmed is True


@pytest.mark.django_db
def test_login_requires_a_code_once_enrolled(client, alice):
    device, _ = enroll_totp(alice)

    response = _password_step(client, alice)

    assert response.status_code == 302 and response.url == STAGE
    assert _logged_in_user_id(client) is None
    assert client.get(reverse("accounts:security")).status_code == 302  # still anonymous

    response = client.post(STAGE, {"code": totp_code(device)})

    assert response.status_code == 302
    assert _logged_in_user_id(client) == str(alice.pk)
    assert client.session["otp_device_id"] == device.persistent_id


@pytest.mark.django_db
def test_login_without_a_device_needs_no_code(client, alice):
    response = _password_step(client, alice)

    assert response.status_code == 302 and response.url != STAGE
    assert _logged_in_user_id(client) == str(alice.pk)


@pytest.mark.django_db
def test_wrong_code_is_refused_then_throttled(client, alice):
    device, _ = enroll_totp(alice)
    _password_step(client, alice)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"

    refused = client.post(STAGE, {"code": wrong})

    assert refused.status_code == 200
    assert "not valid" in refused.content.decode()
    assert _logged_in_user_id(client) is None
    device.refresh_from_db()
    assert device.throttling_failure_count == 1

    # Inside the back-off window even the right code is not checked.
    throttled = client.post(STAGE, {"code": totp_code(device)})

    assert "Too many wrong codes" in throttled.content.decode()
    assert _logged_in_user_id(client) is None


@pytest.mark.django_db
def test_too_many_wrong_codes_abandon_the_login(client, alice, settings):
    settings.TWO_FACTOR_MAX_FAILURES = 3
    enroll_totp(alice)
    _password_step(client, alice)

    for _ in range(3):
        response = client.post(STAGE, {"code": "not-a-code"})

    assert response.status_code == 302 and response.url == LOGIN
    assert client.get(STAGE).url == LOGIN  # the half-finished login is gone
    assert _logged_in_user_id(client) is None


@pytest.mark.django_db
def test_backup_code_works_once(client, alice):
    _, codes = enroll_totp(alice)

    _password_step(client, alice)
    client.post(STAGE, {"code": codes[0].upper()})
    assert _logged_in_user_id(client) == str(alice.pk)
    assert StaticToken.objects.filter(device__user=alice).count() == 9

    client.post(reverse("account_logout"))
    _password_step(client, alice)
    response = client.post(STAGE, {"code": codes[0]})

    assert "not valid, or it has already been used" in response.content.decode()
    assert _logged_in_user_id(client) is None


@pytest.mark.django_db
def test_a_used_totp_code_is_refused(client, alice):
    device, _ = enroll_totp(alice)
    code = totp_code(device)
    _password_step(client, alice)
    client.post(STAGE, {"code": code})
    assert _logged_in_user_id(client) == str(alice.pk)
    client.post(reverse("account_logout"))

    _password_step(client, alice)
    replay = client.post(STAGE, {"code": code})

    assert "already been used" in replay.content.decode()
    assert _logged_in_user_id(client) is None


@pytest.mark.django_db
def test_security_page_lists_devices_and_regenerates_codes(client, alice):
    _, old_codes = enroll_totp(alice)
    client.force_login(alice)
    sudo_session(client)

    page = client.get(reverse("accounts:security"))
    assert "Phone" in page.content.decode()
    assert page.context["backup_codes_remaining"] == 10

    response = client.post(reverse("accounts:backup-codes"))

    new_codes = response.context["codes"]
    assert len(new_codes) == 10
    stored = set(StaticToken.objects.filter(device__user=alice).values_list("token", flat=True))
    assert stored == set(new_codes)
    assert not stored & set(old_codes)


@pytest.mark.django_db
def test_removing_the_authenticator_turns_two_factor_off(client, alice):
    device, _ = enroll_totp(alice)
    client.force_login(alice)
    sudo_session(client)

    client.post(reverse("accounts:device-remove"), {"device": device.persistent_id})

    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert not StaticToken.objects.filter(device__user=alice).exists()
    client.post(reverse("account_logout"))
    _password_step(client, alice)
    assert _logged_in_user_id(client) == str(alice.pk)


@pytest.mark.django_db
def test_cannot_remove_someone_elses_device(client, alice, bob):
    bobs_device, _ = enroll_totp(bob)
    client.force_login(alice)
    sudo_session(client)

    response = client.post(reverse("accounts:device-remove"), {"device": bobs_device.persistent_id})

    assert response.status_code == 302
    assert TOTPDevice.objects.filter(pk=bobs_device.pk).exists()


@pytest.mark.django_db
def test_next_totp_code_helper_gives_a_fresh_code_after_use(client, alice):
    device, _ = enroll_totp(alice)
    _password_step(client, alice)
    client.post(STAGE, {"code": totp_code(device)})
    client.post(reverse("account_logout"))

    _password_step(client, alice)
    client.post(STAGE, {"code": next_totp_code(device)})

    assert _logged_in_user_id(client) == str(alice.pk)


def sudo_session(client):
    session = client.session
    access.sudo_mark_fresh(type("Request", (), {"session": session})())
    session.save()
