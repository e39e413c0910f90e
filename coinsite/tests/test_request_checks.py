"""The site-wide refusal of NUL bytes and unusable charsets, under WSGI and ASGI, with DEBUG on and off."""

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.conf import settings
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils.html import escape

from coinsite.lib.request_checks import CHARSET_REFUSAL, NUL_REFUSAL, RefuseMalformedRequests
from gifting.models import GiftingPreferences

MIDDLEWARE = "coinsite.lib.request_checks.RefuseMalformedRequests"
NUL_PATHS = [
    "/sandbox-pay/checkout/%00/",
    "/live/overlay/%00/",
    "/live/overlay/%00/feed/",
    "/live/overlay/abc%00def/",
    "/wallet/topups/%00/",
    "/creator/statements/2026-01%00/",
    "/accounts/confirm/%00",
]


def run(coroutine):
    async def awaited():
        return await coroutine

    return async_to_sync(awaited)()


def refused(response, reason) -> bool:
    return response.status_code == 400 and escape(str(reason)) in response.content.decode()


def test_the_check_runs_before_sessions_users_and_views():
    order = settings.MIDDLEWARE
    assert order.index(MIDDLEWARE) < order.index("django.contrib.sessions.middleware.SessionMiddleware")
    assert order.index(MIDDLEWARE) < order.index("django.middleware.csrf.CsrfViewMiddleware")
    assert order.index(MIDDLEWARE) > order.index("django.middleware.csp.ContentSecurityPolicyMiddleware")


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", NUL_PATHS)
def test_nul_in_a_path_is_a_400_page_not_a_database_error(client, alice, settings, debug, path):
    settings.DEBUG = debug
    client.force_login(alice)

    response = client.get(path)

    assert refused(response, NUL_REFUSAL)
    assert "Back to the home page" in response.content.decode()
    assert "Content-Security-Policy" in response.headers


@pytest.mark.django_db
def test_nul_in_a_query_string_cookie_or_header_is_refused(alice):
    client = Client()
    client.force_login(alice)

    assert refused(client.get("/wallet/?page=%00"), NUL_REFUSAL)
    assert refused(client.get("/live/preferences/?next=/live/%00"), NUL_REFUSAL)
    assert refused(client.get("/live/?x%00y=1"), NUL_REFUSAL)
    assert refused(client.get("/live/", headers={"User-Agent": "a\x00b"}), NUL_REFUSAL)
    client.cookies["sessionid"] = "abc\x00def"
    assert refused(client.get("/wallet/"), NUL_REFUSAL)


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
def test_nul_in_a_form_field_changes_nothing(client, alice, settings, debug):
    settings.DEBUG = debug
    client.force_login(alice)

    for data in (
        {"hide_from_leaderboards": "on", "next": "/live/\x00"},
        {"hide_from_leaderboards": "on", "confirm_above_coins": "10\x00"},
        {"hide_from_leaderboards": "on", "x\x00": "1"},
    ):
        assert refused(client.post(reverse("gifting:preferences"), data), NUL_REFUSAL)
        multipart = client.post(reverse("gifting:preferences"), data, format="multipart")
        assert refused(multipart, NUL_REFUSAL)

    assert not GiftingPreferences.objects.filter(user=alice).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/x-www-form-urlencoded; charset=utf-16", "hide_from_leaderboards=on".encode("utf-16")),
        ("application/x-www-form-urlencoded; charset=utf-32", "hide_from_leaderboards=on".encode("utf-32")),
        ("application/x-www-form-urlencoded; charset=nonsense", b"hide_from_leaderboards=on"),
        ("application/x-www-form-urlencoded; charset=rot13", b"hide_from_leaderboards=on"),
        ("application/x-www-form-urlencoded; charset=latin-1", b"hide_from_leaderboards=on"),
        ("application/x-www-form-urlencoded; charset=utf-8", b"hide_from_leaderboards=on&next=\xff\xfe"),
        ("multipart/form-data; boundary=xx; charset=utf-7", b"--xx--"),
        ("application/json; charset=utf-16", '{"a": 1}'.encode("utf-16")),
        ("text/plain; charset=cp500", "hello".encode("cp500")),
    ],
)
def test_unknown_or_undecodable_charsets_get_a_400_before_any_view(alice, settings, debug, content_type, body):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)
    client.force_login(alice)

    response = client.generic("POST", reverse("gifting:preferences"), body, content_type=content_type)

    assert refused(response, CHARSET_REFUSAL)
    assert not GiftingPreferences.objects.filter(user=alice).exists()


@pytest.mark.django_db
def test_ten_utf16_posts_with_debug_on_leave_the_site_working(alice, settings):
    """They used to crash Django's debug page and keep a pooled connection each; ten wedged the server."""
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    client.force_login(alice)

    statuses = [
        client.generic(
            "POST",
            reverse("gifting:preferences"),
            "next=/live/".encode("utf-16"),
            content_type="application/x-www-form-urlencoded; charset=utf-16",
        ).status_code
        for _ in range(10)
    ]

    assert statuses == [400] * 10
    assert client.get(reverse("gifting:preferences")).status_code == 200


@pytest.mark.django_db
def test_ordinary_requests_pass(client, alice):
    client.force_login(alice)

    assert client.get("/live/?q=caf%C3%A9").status_code == 200
    plain = client.generic(
        "POST",
        reverse("gifting:preferences"),
        b"hide_from_leaderboards=on&next=%2Flive%2F",
        content_type="application/x-www-form-urlencoded; charset=UTF-8",
    )
    assert plain.status_code == 302
    assert GiftingPreferences.objects.get(user=alice).hide_from_leaderboards is True


@pytest.mark.django_db
def test_the_check_works_under_asgi(alice):
    client = AsyncClient(raise_request_exception=False)
    client.force_login(alice)

    for path in NUL_PATHS:
        assert refused(run(client.get(path)), NUL_REFUSAL)
    utf16 = run(
        client.generic(
            "POST",
            reverse("gifting:preferences"),
            "hide_from_leaderboards=on".encode("utf-16"),
            content_type="application/x-www-form-urlencoded; charset=utf-16",
        )
    )
    assert refused(utf16, CHARSET_REFUSAL)
    form = run(client.post(reverse("gifting:preferences"), {"hide_from_leaderboards": "on", "next": "\x00"}))
    assert refused(form, NUL_REFUSAL)
    assert not GiftingPreferences.objects.filter(user=alice).exists()
    assert run(client.get("/live/")).status_code == 200


def test_the_middleware_is_async_when_its_inner_handler_is():
    async def inner(request):
        return None

    assert iscoroutinefunction(RefuseMalformedRequests(inner))
    assert not iscoroutinefunction(RefuseMalformedRequests(lambda request: None))


@pytest.mark.django_db
def test_a_multipart_body_stays_readable_for_the_view(client):
    """The check parses form bodies; a webhook view then still reads the raw bytes (it used to be a 500)."""
    response = client.post(reverse("wallet:webhook", args=["sandbox"]), {"id": "evt_1"})

    assert response.status_code == 400
    assert response.json()["error"] == "Missing Coinsite-Sandbox-Signature header."
