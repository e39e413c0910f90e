"""Stream links are strict (https, host, optional port, a .m3u8 path) and reach the CSP only as a rebuilt origin."""

import pytest
from django.urls import reverse

from gifting.models import LiveStream
from gifting.services import StreamError, stream_start
from gifting.stream_links import stream_link_error, stream_link_origin

GOOD = {
    "https://example.com/live.m3u8": "https://example.com",
    "https://Video.Example.com/live/index.m3u8": "https://video.example.com",
    "https://cdn.example.com:8443/a/b-c_d~e/stream.m3u8": "https://cdn.example.com:8443",
    "https://127.0.0.1:8888/mystream/index.m3u8": "https://127.0.0.1:8888",
    "https://localhost/live%20now.m3u8": "https://localhost",
}
BAD = [
    "https://x;sandbox;@example.com/live.m3u8",
    "https://example.com;script-src 'unsafe-inline'/live.m3u8",
    "https://example.com/live.m3u8;sandbox",
    "https://example.com/a,b.m3u8",
    "https://example.com/a'b.m3u8",
    'https://example.com/a"b.m3u8',
    "https://example.com/a b.m3u8",
    "https://example.com/a\tb.m3u8",
    "https://user:pass@example.com/live.m3u8",
    "https://user@example.com/live.m3u8",
    "http://example.com/live.m3u8",
    "javascript:alert(1)",
    "data:application/x-mpegURL,#EXTM3U",
    "//example.com/live.m3u8",
    "https://example.com/live.m3u8?token=1",
    "https://example.com/live.m3u8#t=1",
    "https://example.com/live.mp4",
    "https://example.com/",
    "https://example.com",
    "https://example.com:0/live.m3u8",
    "https://example.com:99999/live.m3u8",
    "https://exa_mple.com/live.m3u8",
    "https://-example.com/live.m3u8",
    "https://例え.jp/live.m3u8",
    "https://example.com/\u00e9.m3u8",
    "https://example.com/a%zz.m3u8",
    "https://example.com\\@evil.com/live.m3u8",
    "https://[::1]/live.m3u8",
    "https://example.com/" + "a" * 200 + ".m3u8",
]


@pytest.mark.parametrize(("url", "origin"), GOOD.items())
def test_valid_links_give_their_origin(url, origin):
    assert stream_link_origin(url) == origin
    assert stream_link_error(url) is None


@pytest.mark.parametrize("url", BAD)
def test_anything_else_is_refused(url):
    assert stream_link_error(url)
    assert stream_link_origin(url) is None


@pytest.mark.django_db
@pytest.mark.parametrize("url", BAD)
def test_going_live_with_a_bad_link_starts_nothing(bob, url):
    with pytest.raises(StreamError, match="stream link"):
        stream_start(creator=bob, title="Jam", stream_url=url)

    assert not LiveStream.objects.exists()


@pytest.mark.django_db
def test_the_studio_form_refuses_the_csp_injection(bob_client):
    response = bob_client.post(
        reverse("gifting:studio-start"), {"title": "Jam", "stream_url": "https://x;sandbox;@example.com/live.m3u8"}
    )

    assert response.status_code == 400
    assert "https://" in response.content.decode()
    assert not LiveStream.objects.exists()


@pytest.mark.django_db
def test_a_valid_link_adds_only_its_origin_to_media_src(client, bob, countries):
    live = stream_start(creator=bob, title="With video", stream_url="https://cdn.example.com:8443/live/index.m3u8")

    policy = client.get(reverse("gifting:stream", args=[live.pk]))["Content-Security-Policy"]

    assert "media-src 'self' blob: https://cdn.example.com:8443;" in policy + ";"
    assert "connect-src 'self' https://cdn.example.com:8443;" in policy + ";"
    assert "sandbox" not in policy


@pytest.mark.django_db
def test_a_bad_link_stored_before_the_check_adds_nothing_to_the_policy(client, bob, countries):
    live = LiveStream.objects.create(creator=bob, title="Old", stream_url="https://x;sandbox;@example.com/live.m3u8")

    response = client.get(reverse("gifting:stream", args=[live.pk]))

    policy = response["Content-Security-Policy"]
    assert response.status_code == 200
    assert "sandbox" not in policy and "media-src" not in policy
    assert "default-src 'self'" in policy
