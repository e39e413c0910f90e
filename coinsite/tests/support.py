"""Helpers the project-level tests share: the key pages over the demo data, logging in in a browser, a Redis that
hangs."""

import contextlib
import importlib
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.apps import apps
from django.db import connections
from django.utils import timezone
from playwright.sync_api import Page, expect

from coinsite.accounts.models import User
from gifting.models import Gift, LiveStream
from payouts.models import Payout
from wallet.models import Country, TopUp, TopUpStatus

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


ANONYMOUS, VIEWER, CREATOR = "anonymous", "viewer", "creator"
EMAILS = {VIEWER: "viewer@coinsite.local", CREATOR: "creator@coinsite.local"}


@dataclass(frozen=True)
class KeyPage:
    name: str
    path: str  # formatted with the demo data's ids (see `demo_ids`)
    roles: tuple[str, ...]


KEY_PAGES = [
    KeyPage("home", "/", (ANONYMOUS, VIEWER, CREATOR)),
    KeyPage("live list", "/live/", (ANONYMOUS, VIEWER)),
    KeyPage("stream", "/live/{stream}/", (ANONYMOUS, VIEWER)),
    KeyPage("creator profile", "/live/creators/{creator}/", (ANONYMOUS, VIEWER)),
    KeyPage("gifting preferences", "/live/preferences/", (VIEWER,)),
    KeyPage("log in", "/accounts/login/", (ANONYMOUS,)),
    KeyPage("sign up", "/accounts/signup/", (ANONYMOUS,)),
    KeyPage("password reset", "/accounts/password/reset/", (ANONYMOUS,)),
    KeyPage("recharge", "/wallet/recharge/", (VIEWER,)),
    KeyPage("wallet and history", "/wallet/", (VIEWER,)),
    KeyPage("wallet history filtered", "/wallet/?kind=topup", (VIEWER,)),
    KeyPage("spending controls", "/wallet/controls/", (VIEWER,)),
    KeyPage("pause confirmation", "/wallet/controls/?pause=7d", (VIEWER,)),
    KeyPage("top-up receipt", "/wallet/topups/{topup}/", (VIEWER,)),
    KeyPage("all top-ups", "/wallet/topups/all/", (VIEWER,)),
    KeyPage("statements", "/creator/statements/", (VIEWER, CREATOR)),
    KeyPage("statement", "/creator/statements/{month}/", (VIEWER, CREATOR)),
    KeyPage("creator menu for a viewer", "/creator/", (VIEWER,)),
    KeyPage("creator dashboard", "/creator/", (CREATOR,)),
    KeyPage("payout detail", "/creator/payouts/{payout}/", (CREATOR,)),
    KeyPage("add a payout method", "/creator/methods/add/", (CREATOR,)),
    KeyPage("studio", "/live/studio/", (CREATOR,)),
    KeyPage("account", "/accounts/profile/", (VIEWER, CREATOR)),
    KeyPage("two-factor settings", "/accounts/2fa/", (VIEWER, CREATOR)),
    KeyPage("two-factor setup", "/accounts/2fa/setup/", (VIEWER,)),
    KeyPage("sudo re-check", "/accounts/confirm/", (VIEWER,)),
    KeyPage("API tokens", "/accounts/api-tokens/", (VIEWER, CREATOR)),
    KeyPage("webhooks", "/live/studio/webhooks/", (CREATOR,)),
]


def demo_ids() -> dict[str, object]:
    viewer, creator = (User.objects.get(email=EMAILS[role]) for role in (VIEWER, CREATOR))
    return {
        "stream": LiveStream.objects.get(creator=creator, ended_at__isnull=True).pk,
        "creator": creator.pk,
        "topup": TopUp.objects.filter(user=viewer, status=TopUpStatus.SUCCEEDED).latest("created_at").public_id,
        "payout": Payout.objects.get(creator=creator).public_id,
        "month": f"{timezone.now():%Y-%m}",
    }


class HungRedis:
    """A TCP server at `url` that accepts connections and never answers: Redis behind a network partition, or
    paused. `connections` counts the connections it has accepted."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._server.getsockname()[1]}/0"
        self._accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the server closed
            while True:
                self._accepted.append(self._server.accept()[0])

    def close(self) -> None:
        self._server.close()
        for accepted in self._accepted:
            accepted.close()


@contextlib.contextmanager
def hung_redis() -> Iterator[HungRedis]:
    server = HungRedis()
    try:
        yield server
    finally:
        server.close()


def within[T](seconds: float, call: Callable[[], T]) -> T:
    """What `call()` returns (or raises), failing the test if it is still waiting after `seconds`: for a hang, not
    for a slowness (kombu's own default waits on a hung Redis forever). `call` runs in a thread of its own."""
    outcome: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # handed to the test's thread
            errors.append(error)
        finally:
            connections.close_all()  # this thread's own, if `call` used the database

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if errors:
        raise errors[0]
    assert outcome, f"still waiting after {seconds} s"
    return outcome[0]
