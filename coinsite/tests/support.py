"""Helpers the project-level browser tests share."""

import importlib
import re

from django.apps import apps
from playwright.sync_api import Page, expect

from gifting.models import Gift
from wallet.models import Country

DEMO_PASSWORD = "coinsite-demo-2026"  # backoffice's seed_demo; not imported (coinsite imports no backoffice)


def seed_catalogue() -> None:
    """Prices and gifts as their migrations seed them: tests with real transactions flush them."""
    if not Country.objects.exists():
        importlib.import_module("wallet.migrations.0004_seed_catalogue").seed(apps, None)
    if not Gift.objects.exists():
        importlib.import_module("gifting.migrations.0003_seed_gifts").seed(apps, None)


def log_in(page: Page, base_url: str, email: str, password: str) -> None:
    """Log in with a password; a user with 2FA is left on the code page."""
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
