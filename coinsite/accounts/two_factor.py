"""Two-factor authentication on django-otp: TOTP apps plus one-time backup codes.

django-otp supplies the devices, throttling (exponential back-off after failures) and TOTP replay
protection (``last_t``); enrollment, backup codes and the login step are ours.
"""

import base64
from dataclasses import dataclass

import segno
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django_otp import devices_for_user
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from coinsite.accounts.models import User

BACKUP_DEVICE_NAME = "Backup codes"
BACKUP_CODE_COUNT = 10


class CodeRefused(Exception):
    """A code was not accepted; ``str(error)`` is safe to show the user."""


@dataclass(frozen=True)
class Enrollment:
    device: TOTPDevice
    secret: str
    qr_svg_data_uri: str


def totp_enrollment_begin(*, user: User) -> Enrollment:
    """Return the user's pending (unconfirmed) authenticator, creating one if needed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=gettext("Authenticator app"), confirmed=False)
    secret = base64.b32encode(device.bin_key).decode()
    qr = segno.make(device.config_url, error="m")
    return Enrollment(device=device, secret=secret, qr_svg_data_uri=qr.svg_data_uri(scale=5))


def totp_enrollment_confirm(*, user: User, code: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending authenticator with its first code and issue fresh backup codes."""
    code = _normalise(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("id").first()
        if device is None:
            raise CodeRefused(gettext("This setup expired. Start again to get a new QR code."))
        # django-otp throttles every device after a wrong code, so the right code typed a second later was
        # refused. The throttle guards a secret the guesser does not know; here the person enrolling has just
        # been shown it (behind the sudo re-check), so a pending device is never throttled.
        device.throttle_reset(commit=False)
        accepted = code.isdigit() and device.verify_token(code)
        if accepted:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _replace_backup_codes(user)
    if not accepted:
        raise CodeRefused(gettext("That code did not match. Check your app's clock and try the newest code."))
    return device, codes


def backup_codes_regenerate(*, user: User) -> list[str]:
    with transaction.atomic():
        return _replace_backup_codes(user)


def backup_codes_remaining(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


class DeviceRemovalRefused(Exception):
    """The device stays (a staff member's last authenticator); ``str(error)`` says why."""


def device_remove(*, user: User, persistent_id: str) -> bool:
    """Remove one of the user's own devices; removing the last authenticator removes backup codes.

    Staff must keep an authenticator: removing their last one raises DeviceRemovalRefused. Returns
    False, changing nothing, when the user has no such device.
    """
    if user.is_staff and _is_last_authenticator(user, persistent_id):
        raise DeviceRemovalRefused(gettext("Staff accounts must keep an authenticator. Add another one first."))
    for device in devices_for_user(user, confirmed=None):
        if device.persistent_id == persistent_id:
            with transaction.atomic():
                device.delete()
                if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                    StaticDevice.objects.filter(user=user).delete()
            return True
    return False


def code_verify(*, user: User, code: str) -> Device:
    """Return the device that accepts ``code`` or raise CodeRefused.

    Six digits go to the authenticator apps, anything else to the backup codes. The throttle check
    and the verification run under a row lock, and the failure count is committed before the
    error is raised, so concurrent guesses cannot skip the back-off.
    """
    code = _normalise(code)
    if not code:
        raise CodeRefused(gettext("Enter the code from your authenticator app or a backup code."))
    model = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
    wait_seconds = None
    with transaction.atomic():
        for device in model.objects.devices_for_user(user, confirmed=True).select_for_update():
            allowed, _ = device.verify_is_allowed()
            if not allowed:
                wait_seconds = _throttle_wait(device)
                continue
            if device.verify_token(code):
                return device
    if wait_seconds:
        raise CodeRefused(
            ngettext(
                "Too many wrong codes. Wait %(count)d second and try again.",
                "Too many wrong codes. Wait %(count)d seconds and try again.",
                wait_seconds,
            )
            % {"count": wait_seconds}
        )
    raise CodeRefused(gettext("That code is not valid, or it has already been used."))


def _is_last_authenticator(user: User, persistent_id: str) -> bool:
    authenticators = [d.persistent_id for d in TOTPDevice.objects.filter(user=user, confirmed=True)]
    return authenticators == [persistent_id]


def _replace_backup_codes(user: User) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=user, name=BACKUP_DEVICE_NAME)
    if not device.confirmed:
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _throttle_wait(device: Device) -> int:
    if not device.throttling_failure_timestamp:
        return 1
    delay = device.get_throttle_factor() * (2 ** (device.throttling_failure_count - 1))
    elapsed = (timezone.now() - device.throttling_failure_timestamp).total_seconds()
    return max(1, int(delay - elapsed) + 1)


def _normalise(code: str) -> str:
    return "".join((code or "").split()).replace("-", "").lower()
