"""Moderation in Chromium, as deployed (uvicorn, live events from the hub): the creator mutes or bans a viewer
from the stream page, and the viewer is told so when they next post; a ban holds on the creator's next stream."""

import os

import pytest
from playwright.sync_api import expect

from coinsite.accounts.tests.factories import make_user
from gifting.models import ChatMessage, ChatRestriction
from gifting.services import stream_end, stream_start
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


def test_the_creator_bans_a_viewer_who_is_told_so_and_stays_banned_on_the_next_stream(server, new_context, bob):
    stream = stream_start(creator=bob, title="First stream")
    vera = make_user(email="vera@example.com", display_name="Vera")
    walt = make_user(email="walt@example.com", display_name="Walt")
    vera_page = logged_in_page(new_context, base(server), vera)
    walt_page = logged_in_page(new_context, base(server), walt)
    bob_page = logged_in_page(new_context, base(server), bob)
    for page in (vera_page, walt_page, bob_page):
        open_room(page, stream)
    message = vera_page.get_by_label("Message", exact=True)

    message.fill("buy followers at example")
    message.press("Enter")
    expect(walt_page.locator("[data-chat-id]", has_text="buy followers")).to_be_visible()  # seen live by others
    line = bob_page.locator("[data-chat-id]", has_text="buy followers")
    bob_page.once("dialog", lambda dialog: dialog.accept())
    line.get_by_role("button", name="Ban").click()

    expect(line).to_have_class("chat-item chat-item-restricted", timeout=5_000)
    restriction = ChatRestriction.objects.get()
    assert (restriction.viewer, restriction.kind, restriction.created_by) == (vera, "ban", bob)
    vera_page.wait_for_timeout(1_100)  # past the per-second rate limit
    message.fill("still here")
    message.press("Enter")
    banned = "The creator has banned you from the chat of their streams."
    expect(vera_page.get_by_role("alert").filter(has_text="banned")).to_have_text(banned)

    # The ban is the creator's, not the stream's: it holds on the next one.
    stream_end(stream=stream, creator=bob)
    next_stream = stream_start(creator=bob, title="Second stream")
    open_room(vera_page, next_stream)
    open_room(walt_page, next_stream)
    message = vera_page.get_by_label("Message", exact=True)
    message.fill("hello again")
    message.press("Enter")
    expect(vera_page.get_by_role("alert").filter(has_text="banned")).to_have_text(banned)
    walt_page.get_by_label("Message", exact=True).fill("walt is here")
    walt_page.get_by_label("Message", exact=True).press("Enter")
    expect(walt_page.locator("[data-chat-id]", has_text="walt is here")).to_be_visible()
    assert list(ChatMessage.objects.order_by("pk").values_list("text", flat=True)) == [
        "buy followers at example",
        "walt is here",
    ]
    expect(walt_page.locator("[data-chat-id]", has_text="hello again")).to_have_count(0)
