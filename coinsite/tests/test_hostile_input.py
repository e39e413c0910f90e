"""Hostile input to every endpoint: nothing answers 5xx, and a refused request changes nothing.

The endpoints come from the URL resolver, so one added later is covered without touching this
file; path parameters are filled with real ids from a small world (a viewer with coins and a
pending top-up, a live creator with 2FA, diamonds, a payout method and a payout). Every endpoint
gets the whole corpus from the persona it is for (the creator for the studio and payout pages,
the viewer for the rest) and a shorter one from the other persona and anonymously: GETs with
hostile query strings, POSTs with every field set to each hostile value, one field of a valid
request at a time changed (where a valid request is known), missing and duplicated fields,
multipart and JSON bodies, wrong content types, bad charsets and other methods. Path parameters
get hostile values too, and staff get the admin pages with a short corpus.

After every request: no 5xx (an exception the test client re-raises counts), and — unless the
endpoint is in CHANGES_STATE and the request was not refused — the balances, ledger rows,
top-ups, payouts, users, streams, settings and the emails sent are exactly as before.
"""

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from allauth.account.models import EmailAddress
from django import forms
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLResolver, get_resolver, reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from coinsite.accounts.models import CountryChange, User
from coinsite.accounts.tests.factories import enroll_totp, make_user
from coinsite.lib import access
from gifting.models import CreatorProfile, Gift, GiftEvent, GiftingPreferences, LiveStream
from gifting.services import overlay_token_regenerate, stream_start
from gifting.tests.support import fund
from payouts.exchange import rates_load
from payouts.models import Payout, PayoutMethod
from payouts.services import payout_request
from payouts.tests.support import add_method, give_diamonds
from wallet.models import (
    Adjustment,
    CoinPackage,
    CoinReceivable,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PaymentWebhookEvent,
    SpendingControls,
    TopUp,
    WalletFreeze,
)
from wallet.sandbox.models import SandboxSession
from wallet.services import topup_start

# Whose forms name the fields every POST gets (staff forms live in backoffice).
PROJECT_PACKAGES = {"coinsite", "wallet", "gifting", "payouts", "backoffice"}

# --- the corpus ---------------------------------------------------------------------------------------

HUNDRED_K = "A" * 100_000
VALUES = [
    "",
    "-1",
    "0",
    "2147483648",
    str(10**30),
    "9" * 5000,  # past Python's int() digit limit
    "1e999999",
    "1.5",
    "NaN",
    "Infinity",
    "\uff11\uff12",  # full-width digits: int() takes them
    "\u00b2",
    "null",
    "[]",
    "caf\u00e9 \u202e\U0001f600 \u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    HUNDRED_K,
    "<script>alert(1)</script>' OR 1=1 --",
    "a\x00b",
    "\r\nX-Injected: 1",
    "wallet:index",
    "//evil.example/",
    "https://x;sandbox;@example.com/live.m3u8",
]
# The few values tried in one field at a time of an otherwise valid request.
STRONG = ["", "-1", str(10**30), "1e999999", "NaN", "\uff11", HUNDRED_K]
# Values for query strings (each request sets every known query parameter to one of them).
QUERY_VALUES = ["-1", str(10**30), "9" * 5000, HUNDRED_K, "wallet:index"]
QUERY_NAMES = [
    "next",
    "page",
    "coins",
    "method",
    "type",
    "date_from",
    "date_to",
    "pause",
    "cancelled",
    "country",
    "q",
    "o",
    "p",
    "e",
    "all",
    "_changelist_filters",
    "status__exact",
]
RAW_QUERIES = ["%zz", "a=%ED%A0%80&page=1&page=-5", "&".join(["x=1"] * 2000)]
RAW_JSON_BODIES = [
    '{"coins": 1e999999, "quantity": NaN, "gift": Infinity, "amount": -Infinity}',
    '{"gift": [1, 2], "quantity": {"a": null}, "next": ["//evil"], "country": 12}',
    '{"id": "\\ud800", "next": "\\u0000"}',
    "{" * 5000,
]
OTHER_BODIES = [
    ("text/plain", b"quantity=1&gift=1"),
    ("application/xml", b"<?xml version='1.0'?><!DOCTYPE a [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><a>&x;</a>"),
    ("application/octet-stream", bytes(range(256)) * 4),
    ("application/x-www-form-urlencoded", b"\xff\xfe\xfd=\xc3\x28&a=%"),
    ("application/x-www-form-urlencoded; charset=utf-16", "quantity=1".encode("utf-16")),
    ("application/x-www-form-urlencoded; charset=nonsense", b"quantity=1"),
    ("multipart/form-data; boundary=broken", b"--broken\r\nContent-Disposition: form-data; name=\x00\r\n\r\n"),
    ("multipart/form-data", b"no boundary at all"),
    ("", b"quantity=1"),
]
EXTRA_FIELD_NAMES = {
    "action",
    "next",
    "confirm",
    "method",
    "choice",
    "device",
    "billing_country",
    "login",
    "password",
    "password1",
    "password2",
    "oldpassword",
    "email",
    "remember",
    "key",
    "post",
    "_save",
    "select_across",
    "index",
}

# Endpoints whose valid requests legitimately change the state checked here; for them only a
# refused request (4xx) must leave it unchanged. Every other endpoint must never change it.
CHANGES_STATE = {
    "accounts:profile",
    "accounts:enroll",
    "accounts:enroll-email",  # mails a code
    "accounts:backup-codes",
    "accounts:device-remove",
    "account_signup",
    "account_email",
    "account_change_password",
    "account_set_password",
    "account_reset_password",  # mails a link
    "account_reset_password_from_key",
    "account_confirm_email",
    "gifting:preferences",
    "gifting:send",
    "gifting:studio-start",
    "gifting:studio-end",
    "gifting:studio-goal",
    "gifting:studio-profile",
    "gifting:studio-overlay-regenerate",
    "gifting:studio-chat-settings",
    "gifting:studio-chat-lift",
    "wallet:controls",
    "wallet:topup-start",
    "wallet:webhook",
    "payouts:method-add",
    "payouts:method-change",
    "payouts:method-remove",
    "payouts:request",
    "paysandbox:checkout",
}


PATH_SENTINELS = {"IntConverter": "7777777", "UUIDConverter": "77777777-7777-7777-7777-777777777777"}
HOSTILE_PATH_VALUES = {
    "IntConverter": ["0", "2147483648", str(10**30), "9" * 5000],
    "UUIDConverter": ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"],
    "StringConverter": ["x" * 3000, "%00", "..%2F..%2F", "%ED%A0%80", "'%22", "%E2%80%AE", "%C0%AF", "%u0000"],
}

# --- discovery ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str  # "gifting:send", "account_login", "admin:wallet_topup_change"
    route: str
    params: tuple[str, ...]
    converters: tuple[tuple[str, str], ...]  # (parameter, converter class name)

    @property
    def is_admin(self) -> bool:
        return self.name.startswith("admin:")

    @property
    def namespace(self) -> str:
        return self.name.partition(":")[0] if ":" in self.name else ""


def _walk(patterns, route: str = "", namespace: str = "") -> Iterator[Endpoint]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            # The app namespace ("admin"), which reverse() resolves to the site's default instance.
            inner = ":".join(part for part in (namespace, entry.app_name or entry.namespace) if part)
            yield from _walk(entry.url_patterns, route + str(entry.pattern), inner)
        elif entry.name:
            converters = getattr(entry.pattern, "converters", {})
            yield Endpoint(
                name=f"{namespace}:{entry.name}" if namespace else entry.name,
                route=route + str(entry.pattern),
                params=tuple(entry.pattern.regex.groupindex),
                converters=tuple((name, type(converter).__name__) for name, converter in converters.items()),
            )


def discover_endpoints() -> list[Endpoint]:
    """Every named URL of the project, once per route (a shadowed duplicate is the same page)."""
    seen, endpoints = set(), []
    for endpoint in _walk(get_resolver().url_patterns):
        if endpoint.route not in seen:
            seen.add(endpoint.route)
            endpoints.append(endpoint)
    return endpoints


def project_form_fields() -> set[str]:
    names = set(EXTRA_FIELD_NAMES)

    def visit(cls):
        for subclass in cls.__subclasses__():
            if subclass.__module__.split(".")[0] in PROJECT_PACKAGES:
                names.update(subclass.base_fields)
            visit(subclass)

    visit(forms.Form)
    return names


ENDPOINTS = discover_endpoints()
SITE_ENDPOINTS = [endpoint for endpoint in ENDPOINTS if not endpoint.is_admin]
ADMIN_ENDPOINTS = [endpoint for endpoint in ENDPOINTS if endpoint.is_admin]


def test_discovery_finds_the_project_and_admin_endpoints():
    names = {endpoint.name for endpoint in ENDPOINTS}
    assert {"gifting:send", "wallet:topup-start", "payouts:request", "accounts:confirm", "account_login"} <= names
    assert "paysandbox:checkout" in names and "admin:wallet_topup_changelist" in names
    assert len(SITE_ENDPOINTS) >= 50 and len(ADMIN_ENDPOINTS) >= 100
    assert names >= CHANGES_STATE, CHANGES_STATE - names


# --- the world the requests run against ------------------------------------------------------------


@dataclass
class World:
    viewer: User
    creator: User
    staff: User
    creator_device: TOTPDevice
    staff_device: TOTPDevice
    stream: LiveStream
    method: PayoutMethod
    payout: Payout
    topup: TopUp
    sandbox_session: SandboxSession
    overlay_token: str
    gift: Gift
    package: CoinPackage


@pytest.fixture
def world(db, catalogue, settings):
    settings.PAYMENT_PROVIDER = "sandbox"
    rates_load()
    viewer = make_user(email="vera@example.com", display_name="Vera")
    creator = make_user(email="cris@example.com", display_name="Cris", is_creator=True, country="GB")
    staff = make_user(email="root@example.com", is_staff=True, is_superuser=True)
    creator_device, _ = enroll_totp(creator)
    staff_device, _ = enroll_totp(staff)
    fund(viewer, 50_000)
    give_diamonds(creator, 60_000)
    method = add_method(creator)
    payout = payout_request(creator=creator, method_id=method.pk, diamonds=10_000, idempotency_key="world-payout")
    topup, _url = topup_start(user=viewer, payment_method="card", package_id=CoinPackage.objects.get(coins=700).pk)
    topup.refresh_from_db()  # the checkout session id is written by a later UPDATE
    return World(
        viewer=viewer,
        creator=creator,
        staff=staff,
        creator_device=creator_device,
        staff_device=staff_device,
        stream=stream_start(creator=creator, title="Hostile night", goal_coins=1_000),
        method=method,
        payout=payout,
        topup=topup,
        sandbox_session=SandboxSession.objects.get(public_id=topup.provider_session_id),
        overlay_token=overlay_token_regenerate(creator=creator).overlay_token,
        gift=Gift.objects.filter(is_active=True).order_by("coin_cost").first(),
        package=CoinPackage.objects.get(coins=700),
    )


def client_for(persona: str, world: World) -> Client:
    client = Client(raise_request_exception=True)
    user, device = {
        "viewer": (world.viewer, None),
        "creator": (world.creator, world.creator_device),
        "staff": (world.staff, world.staff_device),
    }.get(persona, (None, None))
    if user is not None:
        client.force_login(user)
        session = client.session
        session[access.SUDO_SESSION_KEY] = 2**40  # sudo pages open: the deepest code paths are reached
        if device is not None:
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


def path_for(endpoint: Endpoint, world: World) -> str:
    kwargs = {param: _path_value(endpoint, param, world) for param in endpoint.params}
    return reverse(endpoint.name, kwargs=kwargs)


def _path_value(endpoint: Endpoint, param: str, world: World):
    public_ids = {
        "wallet": world.topup.public_id,
        "payouts": world.payout.public_id,
        "paysandbox": world.sandbox_session.public_id,
    }
    known = {
        "stream_id": world.stream.pk,
        "creator_id": world.creator.pk,
        "replaces": world.method.pk,
        "method_id": world.method.pk,
        "public_id": public_ids.get(endpoint.namespace),
        "token": world.overlay_token,
        "provider_name": "sandbox",
        "month": "2026-01",
        "key": "abc",
        "uidb36": "1",
        "app_label": "wallet",
        "content_type_id": ContentType.objects.get_for_model(type(world.viewer)).pk,
        "object_id": _admin_object_id(endpoint, world),
    }
    if known.get(param) is not None:
        return known[param]
    converter = dict(endpoint.converters).get(param, "")
    return 1 if converter == "IntConverter" else "x"


def _admin_object_id(endpoint: Endpoint, world: World):
    """A real primary key of the model an admin URL is about (the viewer for the generic redirect URL)."""
    name = endpoint.name.removeprefix("admin:")
    for model in admin.site._registry:
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(prefix):
            pk = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
            return pk if pk is not None else 1
    return world.viewer.pk


# --- what a request may change -----------------------------------------------------------------------


@functools.cache
def _fingerprint_sql() -> tuple[str, list[str]]:
    """One round trip: each table's rows (the columns that matter) as text."""
    tables: list[tuple[Any, ...]] = [  # (model, columns) or (model, columns, a boolean column to filter on)
        (LedgerAccount, ["id", "balance"]),
        (LedgerTransaction, ["id"]),
        (LedgerEntry, ["id"]),
        (TopUp, ["id", "status", "ledger_transaction_id", "reversal", "payment_country"]),
        (PaymentWebhookEvent, ["id"]),
        (GiftEvent, ["id"]),
        (Payout, ["id", "status"]),
        (PayoutMethod, ["id", "retired_at"]),
        (User, ["id", "email", "country", "is_active", "is_staff", "password", "display_name", "preferred_currency"]),
        (EmailAddress, ["id", "email", "verified", "primary"]),
        (CountryChange, ["id", "status"]),
        (LiveStream, ["id", "ended_at", "title", "stream_url", "goal_coins", "goal_label"]),
        (SandboxSession, ["id", "state", "billing_country"]),
        (SpendingControls, ["user_id", "daily_limit", "monthly_limit", "daily_limit_next", "excluded_until"]),
        (WalletFreeze, ["user_id"]),
        (CoinReceivable, ["id", "settled_coins"]),
        (Adjustment, ["id", "status"]),
        (GiftingPreferences, ["user_id", "hide_from_leaderboards", "confirm_above_coins"]),
        (CreatorProfile, ["user_id", "bio", "avatar", "overlay_token"]),
        (TOTPDevice, ["id"], "confirmed"),  # an enrollment page makes unconfirmed ones, harmlessly
        (StaticToken, ["id"]),
    ]
    quote = connection.ops.quote_name
    parts = []
    for model, columns, *where in tables:
        row = ", ".join(quote(column) for column in columns)
        condition = f" WHERE {quote(where[0])}" if where else ""
        parts.append(
            f"(SELECT coalesce(string_agg(concat_ws(',', {row}), ';' ORDER BY {quote(columns[0])}), '') "
            f"FROM {quote(model._meta.db_table)}{condition})"
        )
    return "SELECT " + ", ".join(parts), [table[0]._meta.label for table in tables]


def fingerprint(mailoutbox) -> dict:
    sql, labels = _fingerprint_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        values = cursor.fetchone()
    return {**dict(zip(labels, values, strict=True)), "emails sent": len(mailoutbox)}


# --- the requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    label: str
    method: str
    body: bytes = b""
    content_type: str = "application/x-www-form-urlencoded"
    query: str = ""


def _form(data: dict) -> bytes:
    return urlencode(data, doseq=True).encode()


def post_attempts(fields: list[str], baseline: dict | None, *, short: bool = False) -> Iterator[Attempt]:
    values = STRONG if short else VALUES
    yield Attempt("no fields", "POST")
    for value in values:
        yield Attempt(f"every field = {value!r:.40}", "POST", _form(dict.fromkeys(fields, value)))
    if short:
        yield Attempt(
            "multipart, every field = -1",
            "POST",
            encode_multipart(BOUNDARY, dict.fromkeys(fields, "-1")),
            MULTIPART_CONTENT,
        )
        yield Attempt("JSON body", "POST", RAW_JSON_BODIES[0].encode(), "application/json")
        return
    baseline = baseline or {}
    for field in baseline:
        for value in STRONG:
            yield Attempt(f"valid but {field} = {value!r:.40}", "POST", _form({**baseline, field: value}))
        missing = {key: value for key, value in baseline.items() if key != field}
        yield Attempt(f"valid but {field} missing", "POST", _form(missing))
        yield Attempt(f"valid but {field} twice", "POST", _form({**baseline, field: [baseline[field], "-1"]}))
    yield Attempt("every field twice", "POST", _form({field: ["1", "-1"] for field in fields}))
    for value in (str(10**30), HUNDRED_K):
        body = encode_multipart(BOUNDARY, dict.fromkeys(fields, value))
        yield Attempt(f"multipart, every field = {value!r:.40}", "POST", body, MULTIPART_CONTENT)
    upload = encode_multipart(BOUNDARY, {"file": _Upload(), **dict.fromkeys(fields[:5], "1")})
    yield Attempt("multipart with a file", "POST", upload, MULTIPART_CONTENT)
    for raw in RAW_JSON_BODIES:
        yield Attempt(f"JSON {raw[:40]!r}", "POST", raw.encode(), "application/json")
    json_values: tuple[Any, ...] = (10**30, None, [], 1.5)
    for json_value in json_values:
        yield Attempt(
            f"JSON every field = {json_value!r}",
            "POST",
            json.dumps(dict.fromkeys(fields, json_value)).encode(),
            "application/json",
        )
    for content_type, body in OTHER_BODIES:
        yield Attempt(f"content type {content_type!r}", "POST", body, content_type)
    for method in ("PUT", "PATCH", "DELETE"):
        yield Attempt(method, method, _form(dict.fromkeys(fields, "-1")))


def get_attempts(*, short: bool = False) -> Iterator[Attempt]:
    yield Attempt("plain GET", "GET")
    for value in QUERY_VALUES[:4] if short else QUERY_VALUES:
        yield Attempt(f"query = {value!r:.40}", "GET", query=urlencode(dict.fromkeys(QUERY_NAMES, value)))
    for raw in RAW_QUERIES[:2] if short else RAW_QUERIES:
        yield Attempt(f"raw query {raw[:30]!r}", "GET", query=raw)
    if not short:
        yield Attempt("HEAD", "HEAD")
        yield Attempt("OPTIONS", "OPTIONS")


class _Upload:
    """A file field for encode_multipart."""

    name = "evil.html"

    def read(self):
        return b"<script>alert(1)</script>\x00" * 100


def baseline_for(endpoint: Endpoint, world: World) -> dict | None:
    """A valid request for the endpoints where one is known, so one-field changes reach the deep code."""
    baselines: dict[str, dict[str, Any]] = {
        "gifting:send": {"gift": world.gift.pk, "quantity": "1", "idempotency_key": "hostile-1", "confirmed": "on"},
        "gifting:preferences": {"hide_from_leaderboards": "on", "confirm_above_coins": "100", "next": "/live/"},
        "gifting:studio-start": {"title": "Jam", "stream_url": "https://cdn.example.com/live.m3u8"},
        "gifting:studio-goal": {"goal_coins": "500", "goal_label": "Mic"},
        "gifting:studio-profile": {"bio": "Hi", "avatar": "cat"},
        "gifting:studio-chat-settings": {"slow_mode_seconds": "5", "blocked_words": "turnip"},
        "wallet:topup-start": {"choice": str(world.package.pk), "payment_method": "card", "custom_coins": ""},
        "wallet:controls": {"action": "limits", "daily_limit": "100", "monthly_limit": "1000"},
        "payouts:request": {"diamonds": "10000", "method": str(world.method.pk), "idempotency_key": "hostile-2"},
        "payouts:method-add": {
            "kind": "paypal",
            "holder_name": "Cris",
            "currency": "USD",
            "paypal_email": "cris@example.com",
        },
        "accounts:profile": {"display_name": "Vera", "country": "US", "preferred_currency": "USD"},
        "accounts:confirm": {"password": "wrong-password", "next": "/wallet/"},
        "paysandbox:checkout": {
            "method": "card",
            "card_number": "4242424242424242",
            "expiry": "12/40",
            "cvc": "123",
            "billing_country": "US",
        },
    }
    return baselines.get(endpoint.name)


# --- running them ------------------------------------------------------------------------------------


class Probe:
    """Sends attempts to one endpoint and collects what went wrong."""

    def __init__(self, client: Client, endpoint: Endpoint, path: str, persona: str, mailoutbox):
        self.client, self.endpoint, self.path, self.persona = client, endpoint, path, persona
        self.mailoutbox = mailoutbox
        self.failures: list[str] = []
        self.state = fingerprint(mailoutbox)  # nothing else writes between requests: one read each

    def send(self, attempt: Attempt) -> None:
        before = self.state
        where = f"{self.persona} {attempt.method} {self.path} ({self.endpoint.name}), {attempt.label}"
        try:
            response = self.client.generic(
                attempt.method,
                f"{self.path}?{attempt.query}" if attempt.query else self.path,
                attempt.body,
                content_type=attempt.content_type,
            )
        except Exception as error:  # the test client re-raises what became a 500
            self.failures.append(f"{where}: {type(error).__name__}: {str(error)[:300]}")
            if connection.needs_rollback:
                raise AssertionError("\n".join(self.failures)) from error
            self.state = fingerprint(self.mailoutbox)
            return
        if response.status_code >= 500:
            self.failures.append(f"{where}: HTTP {response.status_code}")
        may_change = self.endpoint.name in CHANGES_STATE or (self.endpoint.is_admin and self.persona == "staff")
        allowed = may_change and attempt.method == "POST" and response.status_code < 400
        after = self.state = fingerprint(self.mailoutbox)
        if after != before and not allowed:
            changed = sorted(key for key in before if before[key] != after[key])
            self.failures.append(f"{where}: HTTP {response.status_code} but changed {changed}")


def fields_for(client: Client, path: str) -> list[str]:
    """The project's form field names plus any the page's own forms name."""
    names = project_form_fields()
    try:
        page = client.get(path)
    except Exception:
        page = None
    if page is not None and page.status_code == 200 and "html" in page.get("Content-Type", ""):
        names.update(re.findall(r'\bname="([^"]{1,60})"', page.content.decode(errors="replace")))
    return sorted(names - {"csrfmiddlewaretoken"})


# Endpoints run in groups (one world each, which is the slow part to build); within a group the
# ones that end or remove what later requests use (the stream, the payout method, the login) go last.
GOES_LAST = {"gifting:studio-end", "gifting:studio-overlay-regenerate", "payouts:method-remove", "account_logout"}


def groups() -> dict[str, list[Endpoint]]:
    grouped: dict[str, list[Endpoint]] = {}
    for endpoint in SITE_ENDPOINTS:
        grouped.setdefault(endpoint.namespace or "allauth", []).append(endpoint)
    return {name: sorted(items, key=lambda e: e.name in GOES_LAST) for name, items in grouped.items()}


def owner(endpoint: Endpoint) -> str:
    """The persona a page is for: it gets the whole corpus; the others get a shorter one."""
    return "creator" if endpoint.namespace == "payouts" or endpoint.name.startswith("gifting:studio") else "viewer"


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["anonymous", "viewer", "creator"])
@pytest.mark.parametrize("group", sorted(groups()))
def test_no_endpoint_fails_or_changes_anything_on_hostile_input(world, mailoutbox, persona, group):
    failures = []
    for endpoint in groups()[group]:
        client = client_for(persona, world)  # again for each endpoint: a logout must not carry over
        path = path_for(endpoint, world)
        probe = Probe(client, endpoint, path, persona, mailoutbox)
        deep = persona == owner(endpoint)
        for attempt in get_attempts(short=not deep):
            probe.send(attempt)
        baseline = baseline_for(endpoint, world) if deep else None
        for attempt in post_attempts(fields_for(client, path), baseline, short=not deep):
            probe.send(attempt)
        failures += probe.failures

    assert failures == []


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", [e for e in SITE_ENDPOINTS if e.converters], ids=lambda endpoint: endpoint.name)
def test_hostile_path_parameters_are_refused_cleanly(world, mailoutbox, endpoint):
    client = client_for("creator", world)
    probe = Probe(client, endpoint, "", "creator", mailoutbox)
    for param, converter in endpoint.converters:
        sentinel = PATH_SENTINELS.get(converter, "sentinel")
        kwargs = {name: _path_value(endpoint, name, world) for name in endpoint.params}
        template = reverse(endpoint.name, kwargs={**kwargs, param: sentinel})
        for value in HOSTILE_PATH_VALUES.get(converter, HOSTILE_PATH_VALUES["StringConverter"]):
            probe.path = template.replace(sentinel, value, 1)
            probe.send(Attempt("GET", "GET"))
            probe.send(Attempt("POST", "POST", _form({"quantity": "1"})))

    assert probe.failures == []


def admin_attempts(endpoint: Endpoint, persona: str, fields: list[str]) -> Iterator[Attempt]:
    """A short corpus per admin page. Admin turns away everyone but staff at once. Staff are trusted
    with deletes (any POST to a delete page deletes) and a change form is the add form again, so
    staff POST hostile values to the add pages and changelists (actions) only."""
    yield Attempt("query", "GET", query=urlencode(dict.fromkeys(QUERY_NAMES, "9" * 5000)))
    if persona != "staff":
        yield Attempt("every field = -1", "POST", _form(dict.fromkeys(fields, "-1")))
        return
    if endpoint.name.endswith("_changelist"):
        yield Attempt("query", "GET", query=urlencode(dict.fromkeys(QUERY_NAMES, HUNDRED_K)))
    if endpoint.name.endswith(("_add", "_changelist")):
        for value in (str(10**30), HUNDRED_K):
            yield Attempt(f"every field = {value!r:.40}", "POST", _form(dict.fromkeys(fields, value)))
        yield Attempt("JSON body", "POST", RAW_JSON_BODIES[1].encode(), "application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["anonymous", "viewer", "staff"])
def test_admin_pages_take_hostile_input_without_failing(world, mailoutbox, persona):
    client = client_for(persona, world)
    failures = []
    for endpoint in ADMIN_ENDPOINTS:
        if endpoint.name == "admin:logout":
            continue
        path = path_for(endpoint, world)
        probe = Probe(client, endpoint, path, persona, mailoutbox)
        wants_fields = persona == "staff" and endpoint.name.endswith("_add")
        fields = fields_for(client, path) if wants_fields else sorted(EXTRA_FIELD_NAMES)
        # An inline formset builds up to ~1,000 forms for a huge TOTAL_FORMS (Django's own cap): slow, not wrong.
        fields = [name for name in fields if not name.endswith("_FORMS")]
        for attempt in admin_attempts(endpoint, persona, fields):
            probe.send(attempt)
        failures += probe.failures

    assert failures == []
