"""Every key page within its query budget (DESIGN: "every page has a query budget that tests assert"), over the
demo data: a live stream with gifts and chat, a viewer with top-ups, history, budgets and statements, a creator
with streams, earnings, supporters, a payout and 2FA.

The pages with their own, busier budget tests (the stream page, the creator dashboard, the wallet, the feed, the
statements, the admin reports, the one-tap gift) are here too, so no key page is left without one. The budget is
what the page needed when measured, for a returning visitor (one visit first: the session, the process's copies of
settings and prices warm).
"""

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user

from coinsite.accounts.models import User
from coinsite.lib import access
from coinsite.tests.support import ANONYMOUS, CREATOR, EMAILS, KEY_PAGES, demo_ids, seed_catalogue

# Measured over the demo data (queries for a returning visitor); a page over its budget fails.
BUDGETS = {
    "home": 5,
    "live list": 4,
    "stream": 11,
    "creator profile": 5,
    "gifting preferences": 3,
    "log in": 0,
    "sign up": 0,
    "password reset": 0,
    "recharge": 6,
    "wallet and history": 12,
    "wallet history filtered": 12,
    "spending controls": 4,
    "pause confirmation": 4,
    "top-up receipt": 3,
    "all top-ups": 4,
    "statements": 4,
    "statement": 12,
    "creator menu for a viewer": 3,
    "creator dashboard": 15,
    "payout detail": 4,
    "add a payout method": 3,
    "studio": 11,
    "account": 4,
    "two-factor settings": 6,
    "two-factor setup": 4,
    "sudo re-check": 4,
    "API tokens": 4,
    "webhooks": 5,
}


@pytest.fixture
def demo(transactional_db, django_db_blocker):
    """The demo data, as `make run` seeds it (its services commit, so the test commits too)."""
    seed_catalogue()
    call_command("seed_demo", stdout=io.StringIO())
    return demo_ids()


def client_for(role: str) -> Client:
    client = Client()
    if role == ANONYMOUS:
        return client
    user = User.objects.get(email=EMAILS[role])
    client.force_login(user)
    session = client.session
    session[access.SUDO_SESSION_KEY] = 2**40  # as just after the password re-check: sudo pages open
    if role == CREATOR:  # the demo creator has 2FA: the session is verified as after the code page
        session[DEVICE_ID_SESSION_KEY] = next(devices_for_user(user)).persistent_id
    session.save()
    return client


def queries(client: Client, url: str) -> tuple[int, int]:
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return response.status_code, len(captured.captured_queries)


def test_every_key_page_stays_within_its_query_budget(demo):
    assert set(BUDGETS) == {page.name for page in KEY_PAGES}
    over = []
    for page in KEY_PAGES:
        url = page.path.format(**demo)
        for role in page.roles:
            status, count = queries(client_for(role), url)
            assert status == 200, f"{page.name} as {role}: {url} answered {status}"
            if count > BUDGETS[page.name]:
                over.append(f"{page.name} as {role}: {count} queries (budget {BUDGETS[page.name]})")
    assert over == []
