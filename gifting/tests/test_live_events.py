"""Live events on the wire and in the page: cursors, the inter-process format, SSE framing, the page's addresses."""

import html
import json
import re
from urllib.parse import parse_qs

import pytest
from django.urls import reverse

from gifting import presence
from gifting.live import hub as live_hub
from gifting.live.events import LiveEvent, cursor_format, cursor_parse, dumps, frame
from gifting.live.replay import StreamMeta
from gifting.services import gift_send
from gifting.tests.support import fund


def test_a_cursor_names_the_last_id_per_source_and_anything_else_is_no_cursor():
    assert cursor_parse("g1842") == {"g": 1842}
    assert cursor_parse("g1842.c77") == {"g": 1842, "c": 77}
    assert cursor_format({"g": 1842, "c": 77}) == "c77.g1842"
    for junk in (None, "", "1842", "g", "G5", "g-1", "g5;c6", "g5..c6", "g" + "9" * 19, "g1." * 80):
        assert cursor_parse(junk) is None, junk


def test_the_wire_format_carries_the_json_untouched_and_refuses_anything_else():
    event = LiveEvent(stream_id=7, type="gift", data='{"name":"a|b"}', source="g", event_id=12)

    assert LiveEvent.from_wire(event.wire().encode()) == event
    for junk in ("", "7|gift", "x|gift|g|1|{}", "7|gift|G|1|{}", "7|not a type|||{}"):
        with pytest.raises(ValueError):
            LiveEvent.from_wire(junk)


def test_a_payload_is_compact_json_on_one_line_with_its_text_as_written():
    payload = {"name": "Zoë 🌹", "message": "gg\nwp", "gift": {"id": 1, "tier": "basic"}, "anonymous": False}

    encoded = dumps(payload)

    assert encoded == '{"name":"Zoë 🌹","message":"gg\\nwp","gift":{"id":1,"tier":"basic"},"anonymous":false}'
    assert "\n" not in encoded  # one SSE data line
    assert json.loads(encoded) == payload


def test_a_frame_is_one_sse_message():
    assert frame("gift", '{"id":1}', "g1") == b'id: g1\nevent: gift\ndata: {"id":1}\n\n'
    assert frame("viewers", '{"count":2}') == b'event: viewers\ndata: {"count":2}\n\n'


@pytest.mark.django_db
def test_the_stream_page_streams_from_the_newest_gift_it_shows_as_its_viewer(client, alice, bob, stream, rose):
    fund(alice, 10)
    newest = [
        gift_send(sender=alice, stream_id=stream.pk, gift_id=rose.pk, quantity=1, idempotency_key=f"k{n}")
        for n in range(2)
    ][-1]
    client.force_login(alice)

    page = client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()

    events_url = html.unescape(re.search(r'data-events-url="([^"]+)"', page)[1])
    path, query = events_url.split("?")
    params = parse_qs(query)
    assert path == reverse("gifting:events", args=[stream.pk])
    assert params["after"] == [f"c0.g{newest.pk}"]
    assert presence.viewer_from_token(params["v"][0], stream_id=stream.pk, address="192.0.2.1") == f"u{alice.pk}"
    assert 'data-currency="USD"' in page and re.search(r'data-per-coin="0\.0\d+"', page)


def test_a_stream_that_ends_while_a_client_joins_still_gives_the_client_its_replay():
    """A resuming client is joining (its replay being read) when the bus brings the ended stream's last
    gift: the flush must not end that connection before it has its headers and its replay."""
    sent = []

    async def send(message):
        sent.append(message)

    meta = StreamMeta(
        stream_id=7, creator_id=1, title="", is_live=False, ended_at=None, goal_coins=None, goal_label="", coins=0
    )
    channel = live_hub.Channel(hub=None, meta=meta)
    connection = live_hub.Connection(send, viewer=None, deadline=0.0)
    channel.join_started(connection)
    channel.pending = [LiveEvent(stream_id=7, type="gift", data='{"coins": 1}', source="g", event_id=5)]

    channel.flush()

    assert (connection.closed, sent) == (False, [])
    channel.join_finished(connection, b"opening with the replayed gift", {("g", 5)})
    assert sent == [{"type": "http.response.body", "body": b"opening with the replayed gift", "more_body": True}]
