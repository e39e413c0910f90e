"""Moderation in Chromium, as deployed (uvicorn, live events from the hub): the creator mutes a viewer from the
stream page, and the viewer is told so when they next post."""

import os

import pytest
from playwright.sync_api import expect

from coinsite.accounts.tests.factories import make_user
from gifting.models import ChatMessage, ChatRestriction
from gifting.services import stream_start
from gifting.tests import test_room_browser as room
from gifting.tests.live_support import UvicornServer
from gifting.tests.test_room_browser import base, logged_in_page, open_room, seed

pytestmark = pytest.mark.browser

new_context = room.new_context  # the room tests' fixture: browser contexts closed after the test


@pytest.fixture
def server(transactional_db):
    seed()
    # A fixed port when one is given (parallel sessions on one machine each keep to their own range).
    running = UvicornServer({"REDIS_URL": ""}, port=int(os.environ.get("COINSITE_TEST_PORT", "0")) or None)
    running.wait_until_up("/live/")
    yield running
    running.stop()


def test_the_creator_mutes_a_viewer_from_the_stream_page_and_the_viewer_is_told_so(server, new_context, bob):
    stream = stream_start(creator=bob, title="Moderated stream")
    vera = make_user(email="vera@example.com", display_name="Vera")
    vera_page = logged_in_page(new_context, base(server), vera)
    bob_page = logged_in_page(new_context, base(server), bob)
    open_room(vera_page, stream)
    open_room(bob_page, stream)
    message = vera_page.get_by_label("Message", exact=True)

    message.fill("first message")
    message.press("Enter")
    line = bob_page.locator("[data-chat-id]", has_text="first message")
    expect(line).to_be_visible()
    bob_page.once("dialog", lambda dialog: dialog.accept())
    line.get_by_role("button", name="Mute").click()

    expect(line).to_have_class("chat-item chat-item-restricted", timeout=5_000)
    restriction = ChatRestriction.objects.get()
    assert (restriction.viewer, restriction.kind, restriction.created_by) == (vera, "mute", bob)
    vera_page.wait_for_timeout(1_100)  # past the per-second rate limit
    message.fill("second message")
    message.press("Enter")
    expect(vera_page.get_by_role("alert").filter(has_text="muted")).to_have_text("You are muted in this stream's chat.")
    assert list(ChatMessage.objects.values_list("text", flat=True)) == ["first message"]
    assert vera_page.evaluate("window.loadedOnce") is True
