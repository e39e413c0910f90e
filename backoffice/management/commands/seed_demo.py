"""Idempotent demo data: run it any number of times, the result is the same set of demo users.

It lives in backoffice because it needs every app: each app keeps its own demo data in
``<app>/demo.py`` (a ``seed_demo`` function), and this command calls them in order after creating
the people: wallet (recharges), gifting (a live stream and gifts), payouts (earnings, a payout).
"""

import base64
import datetime
from typing import Any

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from coinsite.accounts.models import User
from coinsite.accounts.two_factor import BACKUP_DEVICE_NAME
from gifting import demo as gifting_demo
from payouts import demo as payouts_demo
from wallet import demo as wallet_demo

DEMO_PASSWORD = "coinsite-demo-2026"
# A fixed authenticator secret so the demo staff login can also be added to a phone app.
STAFF_TOTP_KEY = "3132333435363738393031323334353637383930"
STAFF_BACKUP_CODES = [f"staffdemo{n:02d}" for n in range(1, 11)]

PEOPLE: list[dict[str, Any]] = [
    {"email": "viewer@coinsite.local", "display_name": "Vera Viewer", "country": "US", "preferred_currency": "USD"},
    {
        "email": "creator@coinsite.local",
        "display_name": "Cleo Creates",
        "country": "GB",
        "preferred_currency": "GBP",
        "is_creator": True,
    },
    {
        "email": "staff@coinsite.local",
        "display_name": "Sam Staff",
        "country": "US",
        "preferred_currency": "USD",
        "is_staff": True,
        "is_superuser": True,
    },
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo viewer, creator and staff user, and each app's demo data."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            users = {person["email"]: _ensure_user(person) for person in PEOPLE}
            staff = users["staff@coinsite.local"]
            _ensure_staff_two_factor(staff)
        for app_demo in (wallet_demo, gifting_demo, payouts_demo):
            app_demo.seed_demo(users=users, stdout=self.stdout)
        self._print_logins()

    def _print_logins(self) -> None:
        secret = base64.b32encode(bytes.fromhex(STAFF_TOTP_KEY)).decode()
        self.stdout.write(self.style.SUCCESS("Demo data is ready. Log in at /accounts/login/ with:"))
        for person in PEOPLE:
            self.stdout.write(f"  {person['email']:<24} password: {DEMO_PASSWORD}")
        self.stdout.write(
            f"  The staff user has 2FA: use backup code {STAFF_BACKUP_CODES[0]} "
            f"(or {STAFF_BACKUP_CODES[1]}), or add secret {secret} to an authenticator app."
        )


def _ensure_user(person: dict) -> User:
    fields = {key: value for key, value in person.items() if key != "email"}
    user, created = User.objects.get_or_create(
        email=person["email"], defaults={**fields, "birth_date": datetime.date(1994, 3, 12)}
    )
    if created or not user.check_password(DEMO_PASSWORD):
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    return user


def _ensure_staff_two_factor(staff: User) -> None:
    TOTPDevice.objects.get_or_create(
        user=staff, name="Demo authenticator", defaults={"key": STAFF_TOTP_KEY, "confirmed": True}
    )
    backup, _ = StaticDevice.objects.get_or_create(user=staff, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True})
    existing = set(backup.token_set.values_list("token", flat=True))
    StaticToken.objects.bulk_create(
        StaticToken(device=backup, token=code) for code in STAFF_BACKUP_CODES if code not in existing
    )
