import datetime
import time

from allauth.account.models import EmailAddress
from django_otp.oath import hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from coinsite.accounts import two_factor
from coinsite.accounts.models import User
from coinsite.lib import access

PASSWORD = "correct-horse-battery"


def make_user(
    *,
    email: str,
    password: str | None = PASSWORD,
    verified: bool = True,
    birth_date: datetime.date | None = datetime.date(1990, 5, 17),
    **fields,
) -> User:
    """A user with a (by default verified) primary email, as allauth would have made."""
    fields.setdefault("display_name", email.split("@")[0].title())
    user = User.objects.create_user(email=email, password=password, birth_date=birth_date, **fields)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=verified)
    return user


def totp_code(device, *, step_offset: int = 0) -> str:
    """The code an authenticator app would show now (plus ``step_offset`` time steps)."""
    device.refresh_from_db()
    step = (int(time.time()) - device.t0) // device.step + device.drift + step_offset
    return f"{hotp(device.bin_key, step, digits=device.digits):0{device.digits}d}"


def next_totp_code(device) -> str:
    """A code the device has not accepted yet (authenticators tolerate one step of drift)."""
    device.refresh_from_db()
    now = (int(time.time()) - device.t0) // device.step + device.drift
    return totp_code(device, step_offset=max(0, device.last_t + 1 - now))


def enroll_totp(user):
    """A confirmed authenticator plus backup codes for ``user``; returns (device, backup_codes)."""
    device = TOTPDevice.objects.create(user=user, name="Phone", confirmed=True)
    codes = two_factor.backup_codes_regenerate(user=user)
    return device, codes


def sudo_fresh(client) -> None:
    """The client's session passed the sudo re-check (and stays fresh for the whole test)."""
    session = client.session
    session[access.SUDO_SESSION_KEY] = 2**40
    session.save()
