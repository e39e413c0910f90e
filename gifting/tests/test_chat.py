"""Chat in the live room: posting (length, rate, hostile input, verified email), delivery as a live event,
and the creator's moderation (delete a message, mute on a stream, ban from all of their streams)."""

import json

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from coinsite.accounts.tests.factories import make_user
from gifting import chat
from gifting.live import replay
from gifting.models import ChatMessage, ChatRestriction
from gifting.services import stream_end, stream_start

pytestmark = pytest.mark.django_db


def post(client, stream, text):
    return client.post(reverse("gifting:chat-send", args=[stream.pk]), {"text": text})


@pytest.fixture
def creator_client(bob):
    """Bob's own browser (alice_client and bob_client share pytest-django's one client)."""
    client = Client()
    client.force_login(bob)
    return client


def moderate(client, message, action, **extra):
    return client.post(reverse("gifting:chat-moderate", args=[message.pk]), {"action": action, **extra})


def test_a_message_is_stored_and_published_to_the_stream_after_commit(
    alice_client, alice, stream, django_capture_on_commit_callbacks, monkeypatch
):
    published = []
    monkeypatch.setattr("gifting.live.publish._enqueue", lambda *args: published.append(args))

    with django_capture_on_commit_callbacks(execute=True):
        response = post(alice_client, stream, "  Hello   <b>Bob</b>!  ")

    assert response.status_code == 201
    message = ChatMessage.objects.get()
    assert message.text == "Hello <b>Bob</b>!"
    assert response.json()["message"]["id"] == message.pk
    ((stream_id, event, data, source, event_id),) = published
    assert (stream_id, event, source, event_id) == (stream.pk, "chat", "c", message.pk)
    assert data["author"] == {"name": "Alice", "creator": False}
    assert data["text"] == "Hello <b>Bob</b>!"
    assert "alice@example.com" not in json.dumps(data) and "author_id" not in data


def test_the_creators_own_messages_are_marked(creator_client, stream):
    post(creator_client, stream, "Welcome!")
    assert replay.recent_chat(stream.pk, 10)[0]["author"] == {"name": "Bob", "creator": True}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Write a message first."),
        ("   \n\t ", "Write a message first."),
        ("x" * 201, "Keep your message to 200 characters (it has 201)."),
        ("nul\x00byte", "Your message contains characters that cannot be sent."),
        ("bell\x07", "Your message contains characters that cannot be sent."),
        ("\u202eevil", "Your message contains characters that cannot be sent."),
        ("\ud800", "Your message contains characters that cannot be sent."),
    ],
)
def test_hostile_or_empty_messages_are_400_and_store_nothing(alice, stream, text, message):
    with pytest.raises(chat.ChatInvalid) as refused:
        chat.chat_post(author=alice, stream_id=stream.pk, text=text)
    assert str(refused.value) == message
    assert not ChatMessage.objects.exists()


def test_the_endpoint_answers_hostile_input_with_a_clear_400(alice_client, stream):
    response = post(alice_client, stream, "x" * 5000)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert not ChatMessage.objects.exists()


def test_emoji_with_joiners_are_fine(alice, stream):
    text = "👩\u200d🎨 nice ❤\ufe0f"
    assert chat.chat_post(author=alice, stream_id=stream.pk, text=text).text == text


def test_posting_too_fast_is_429_with_retry_after(alice_client, stream):
    responses = [post(alice_client, stream, f"message {number}") for number in range(6)]

    codes = [response.status_code for response in responses]
    # Two a second: six posts in a row span at most two one-second windows.
    assert codes.count(201) <= 4 and set(codes) == {201, 429}
    assert ChatMessage.objects.count() == codes.count(201)
    refused = next(response for response in responses if response.status_code == 429)
    assert refused["Retry-After"] == "1"
    assert refused.json()["message"] == "You are sending messages too quickly: wait 1 second."


def test_unverified_viewers_cannot_chat(client, stream):
    carol = make_user(email="carol@example.com", verified=False)
    client.force_login(carol)

    response = post(client, stream, "hi")

    assert response.status_code == 403
    assert response.json()["message"] == "Verify your email address to chat."


def test_logged_out_and_ended_and_unknown_streams_are_refused(client, alice, bob, stream):
    assert post(client, stream, "hi").status_code == 401
    client.force_login(alice)
    assert client.post(reverse("gifting:chat-send", args=[999_999]), {"text": "hi"}).status_code == 404
    stream_end(stream=stream, creator=bob)
    ended = post(client, stream, "hi")
    assert ended.status_code == 403
    assert ended.json()["error"] == "stream_ended"
    assert not ChatMessage.objects.exists()


def test_the_creator_deletes_a_message_and_every_page_is_told(
    alice, bob_client, bob, stream, django_capture_on_commit_callbacks, monkeypatch
):
    message = chat.chat_post(author=alice, stream_id=stream.pk, text="spam")
    published = []
    monkeypatch.setattr("gifting.live.publish._enqueue", lambda *args: published.append(args))

    with django_capture_on_commit_callbacks(execute=True):
        response = moderate(bob_client, message, "delete")

    assert response.status_code == 200
    message.refresh_from_db()
    assert message.deleted_by == bob and message.deleted_at is not None
    assert [(event, data["id"]) for _stream, event, data, _source, _id in published] == [("chat_deleted", message.pk)]
    assert replay.recent_chat(stream.pk, 10) == []
    assert replay.chat_after(stream, 0, 10) == []


def test_a_muted_viewer_is_told_so_and_cannot_post_on_that_stream_only(
    alice_client, alice, bob, creator_client, stream
):
    message = chat.chat_post(author=alice, stream_id=stream.pk, text="rude")
    assert moderate(creator_client, message, "mute", minutes="10").status_code == 200

    refused = post(alice_client, stream, "again")

    assert refused.status_code == 403
    assert refused.json()["error"] == "muted"
    assert refused.json()["message"] == "You are muted in this stream's chat for 10 more minutes."
    restriction = ChatRestriction.objects.get()
    assert (restriction.viewer, restriction.created_by, restriction.stream, restriction.kind) == (
        alice,
        bob,
        stream,
        "mute",
    )
    stream_end(stream=stream, creator=bob)
    later = stream_start(creator=bob, title="Next day")
    cache.clear()  # the rate limit counted the refused post too
    assert post(alice_client, later, "hello again").status_code == 201


def test_a_banned_viewer_cannot_post_on_any_stream_of_that_creator(alice_client, alice, bob, creator_client, stream):
    message = chat.chat_post(author=alice, stream_id=stream.pk, text="rude")
    assert moderate(creator_client, message, "ban").status_code == 200
    stream_end(stream=stream, creator=bob)
    later = stream_start(creator=bob, title="Next day")
    dora = make_user(email="dora@example.com", display_name="Dora", is_creator=True)
    elsewhere = stream_start(creator=dora, title="Dora's stream")

    refused = post(alice_client, later, "hello")
    cache.clear()  # the rate limit counted the refused post too

    assert refused.status_code == 403
    assert refused.json()["message"] == "The creator has banned you from the chat of their streams."
    assert post(alice_client, elsewhere, "hello").status_code == 201


def test_only_the_creator_or_staff_moderate_and_others_learn_nothing(alice_client, alice, stream):
    carol = make_user(email="carol@example.com", display_name="Carol")
    message = chat.chat_post(author=carol, stream_id=stream.pk, text="hi")

    assert moderate(alice_client, message, "delete").status_code == 404
    assert moderate(alice_client, message, "ban").status_code == 404
    message.refresh_from_db()
    assert message.deleted_at is None
    staff = make_user(email="staff@example.com", is_staff=True)
    chat.chat_delete(moderator=staff, message_id=message.pk)
    message.refresh_from_db()
    assert message.deleted_by == staff
    assert not ChatRestriction.objects.exists()


def test_nobody_mutes_the_creator_and_bad_actions_are_400(creator_client, alice, bob, stream):
    own = chat.chat_post(author=bob, stream_id=stream.pk, text="hello")
    theirs = chat.chat_post(author=alice, stream_id=stream.pk, text="hello")
    assert moderate(creator_client, own, "ban").status_code == 403
    assert moderate(creator_client, theirs, "shout").status_code == 400
    assert moderate(creator_client, theirs, "mute", minutes="-5").status_code == 400
    assert moderate(creator_client, theirs, "mute", minutes="99999").status_code == 400
    assert moderate(creator_client, theirs, "mute", minutes="0").status_code == 400
    assert not ChatRestriction.objects.exists()


def test_a_resuming_page_gets_the_chat_it_missed_from_its_cursor(alice, stream):
    first = chat.chat_post(author=alice, stream_id=stream.pk, text="one")
    cursor = replay.page_cursor([], [first.pk])
    second = chat.chat_post(author=alice, stream_id=stream.pk, text="two")

    replayed = replay.replay(stream.pk, {"c": first.pk, "g": 0})

    assert cursor == f"c{first.pk}.g0"
    assert [(event.type, event.event_id, json.loads(event.data)["text"]) for event in replayed] == [
        ("chat", second.pk, "two")
    ]


def test_the_stream_page_shows_recent_chat_escaped_and_moderation_to_the_creator_only(
    alice_client, alice, creator_client, stream
):
    chat.chat_post(author=alice, stream_id=stream.pk, text="<script>alert(1)</script>")

    html = alice_client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert 'role="log"' in html
    assert "data-moderate" not in html
    assert "data-moderate" in creator_client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()
