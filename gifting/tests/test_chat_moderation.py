"""The creator's chat rules and moderation from the studio: slow mode, blocked words, lifting a mute or a ban,
and deleting, muting or banning from the studio's list of recent messages."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from coinsite.accounts.tests.factories import make_user
from gifting import chat
from gifting.models import ChatMessage, ChatRestriction, CreatorProfile
from gifting.services import stream_end, stream_start

pytestmark = pytest.mark.django_db


def post(client, stream, text):
    cache.clear()  # the site-wide rate limit is not what these tests are about
    return client.post(reverse("gifting:chat-send", args=[stream.pk]), {"text": text})


@pytest.fixture
def creator_client(bob):
    client = Client()
    client.force_login(bob)
    return client


def rules(client, *, slow_mode_seconds=0, blocked_words=""):
    return client.post(
        reverse("gifting:studio-chat-settings"),
        {"slow_mode_seconds": slow_mode_seconds, "blocked_words": blocked_words},
    )


# --- Slow mode ------------------------------------------------------------------------------------


def test_slow_mode_refuses_a_viewers_second_message_too_soon_and_stores_nothing(
    creator_client, alice_client, alice, stream
):
    assert rules(creator_client, slow_mode_seconds=30).status_code == 302
    assert post(alice_client, stream, "first").status_code == 201

    refused = post(alice_client, stream, "second")

    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert refused.json()["message"].startswith("Slow mode is on: wait ")
    assert 29 <= int(refused["Retry-After"]) <= 30
    assert list(ChatMessage.objects.values_list("text", flat=True)) == ["first"]


def test_slow_mode_lets_a_viewer_post_once_the_wait_is_over_and_spares_the_creator(
    creator_client, alice_client, alice, bob, stream
):
    rules(creator_client, slow_mode_seconds=30)
    first = chat.chat_post(author=alice, stream_id=stream.pk, text="first")
    ChatMessage.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(seconds=31))
    cache.clear()  # 31 seconds on, the slow-mode claim in the cache has expired too

    assert post(alice_client, stream, "second").status_code == 201
    assert post(creator_client, stream, "one").status_code == 201
    assert post(creator_client, stream, "two").status_code == 201


def test_two_posts_racing_past_the_slow_mode_check_land_only_once(creator_client, alice, stream, monkeypatch):
    rules(creator_client, slow_mode_seconds=30)
    before_either = chat._post_context(author=alice, stream_id=stream.pk)  # what both requests read
    chat.chat_post(author=alice, stream_id=stream.pk, text="first")
    monkeypatch.setattr(chat, "_post_context", lambda **kwargs: before_either)

    with pytest.raises(chat.ChatRateLimited, match="Slow mode is on: wait 30 seconds"):
        chat.chat_post(author=alice, stream_id=stream.pk, text="second")

    assert list(ChatMessage.objects.values_list("text", flat=True)) == ["first"]


def test_a_shortened_slow_mode_holds_back_no_one_longer_than_the_new_period(creator_client, alice, stream):
    rules(creator_client, slow_mode_seconds=60)
    first = chat.chat_post(author=alice, stream_id=stream.pk, text="first")
    rules(creator_client, slow_mode_seconds=5)
    ChatMessage.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(seconds=6))

    chat.chat_post(author=alice, stream_id=stream.pk, text="second")  # 6 s on: the 5-second wait is over

    assert list(ChatMessage.objects.order_by("pk").values_list("text", flat=True)) == ["first", "second"]


def test_without_slow_mode_messages_follow_each_other(alice_client, stream):
    assert post(alice_client, stream, "one").status_code == 201
    assert post(alice_client, stream, "two").status_code == 201


def test_slow_mode_counts_per_viewer_and_per_stream(creator_client, alice_client, alice, stream):
    rules(creator_client, slow_mode_seconds=60)
    carol = make_user(email="carol@example.com", display_name="Carol")
    chat.chat_post(author=alice, stream_id=stream.pk, text="from alice")
    cache.clear()
    chat.chat_post(author=carol, stream_id=stream.pk, text="from carol")  # not held back by Alice's message
    assert ChatMessage.objects.count() == 2


# --- Blocked words --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["you are a Turnip", "TURNIP!", "turnip", "so, turnip-head", "Bad Word here"])
def test_a_message_with_a_blocked_word_is_refused_clearly_and_nothing_is_stored(
    creator_client, alice_client, stream, text
):
    rules(creator_client, blocked_words="turnip\n  bad   word \n")

    refused = post(alice_client, stream, text)

    assert refused.status_code == 403
    assert refused.json()["error"] == "blocked_word"
    assert refused.json()["message"] == (
        "Your message contains a word the creator does not allow in this chat. Rephrase it and send it again."
    )
    assert not ChatMessage.objects.exists()


@pytest.mark.parametrize("text", ["turnips are tasty", "parsnip", "badword", "a bad day for words"])
def test_only_whole_words_are_blocked(creator_client, alice_client, stream, text):
    rules(creator_client, blocked_words="turnip\nbad word")
    assert post(alice_client, stream, text).status_code == 201


def test_the_creator_is_not_held_by_their_own_list_and_other_creators_lists_do_not_apply(
    creator_client, alice_client, stream
):
    rules(creator_client, blocked_words="turnip")
    assert post(creator_client, stream, "turnip time").status_code == 201
    dora = make_user(email="dora@example.com", display_name="Dora", is_creator=True)
    elsewhere = stream_start(creator=dora, title="Dora's stream")
    assert post(alice_client, elsewhere, "turnip").status_code == 201


def test_chat_rules_are_saved_normalised_and_shown_in_the_studio(creator_client, bob):
    response = rules(creator_client, slow_mode_seconds=15, blocked_words="Turnip\n\n  bad   WORD\nturnip\n")

    assert response.status_code == 302
    profile = CreatorProfile.objects.get(user=bob)
    assert (profile.chat_slow_mode_seconds, profile.chat_blocked_words) == (15, "turnip\nbad word")
    page = creator_client.get(reverse("gifting:studio")).content.decode()
    assert 'name="slow_mode_seconds"' in page and 'value="15"' in page and "bad word" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"slow_mode_seconds": "-1", "blocked_words": ""}, "Ensure this value is greater than or equal to 0."),
        ({"slow_mode_seconds": "601", "blocked_words": ""}, "Ensure this value is less than or equal to 600."),
        ({"slow_mode_seconds": "abc", "blocked_words": ""}, "Enter a whole number."),
        ({"slow_mode_seconds": "0", "blocked_words": "x" * 51}, "Keep each blocked word to 50 characters."),
        (
            {"slow_mode_seconds": "0", "blocked_words": "\n".join(f"w{n}" for n in range(201))},
            "Block at most 200 words.",
        ),
    ],
)
def test_bad_chat_rules_are_a_400_with_the_reason_and_change_nothing(creator_client, bob, data, message):
    response = creator_client.post(reverse("gifting:studio-chat-settings"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not CreatorProfile.objects.filter(user=bob).exclude(chat_slow_mode_seconds=0).exists()
    assert not CreatorProfile.objects.filter(user=bob).exclude(chat_blocked_words="").exists()


def test_only_creators_set_chat_rules(alice_client):
    response = rules(alice_client, slow_mode_seconds=5)
    assert response.status_code in (302, 403)
    assert not CreatorProfile.objects.exists()


# --- Lifting a mute or a ban ----------------------------------------------------------------------


def test_the_creator_lifts_a_ban_from_the_studio_and_the_viewer_may_chat_again(
    creator_client, alice_client, alice, bob, stream
):
    message = chat.chat_post(author=alice, stream_id=stream.pk, text="rude")
    ban = chat.chat_restrict(moderator=bob, message_id=message.pk, kind="ban")
    assert post(alice_client, stream, "let me in").status_code == 403
    page = creator_client.get(reverse("gifting:studio")).content.decode()
    assert "Alice" in page and "Lift ban" in page and reverse("gifting:studio-chat-lift", args=[ban.pk]) in page

    response = creator_client.post(reverse("gifting:studio-chat-lift", args=[ban.pk]))

    assert response.status_code == 302
    ban.refresh_from_db()
    assert ban.lifted_by == bob and ban.lifted_at is not None  # the record of both actions stays
    assert post(alice_client, stream, "thank you").status_code == 201
    assert "Nobody is muted or banned." in creator_client.get(reverse("gifting:studio")).content.decode()


def test_staff_lift_a_mute_and_lifting_twice_changes_nothing(alice_client, alice, bob, stream):
    message = chat.chat_post(author=alice, stream_id=stream.pk, text="rude")
    mute = chat.chat_restrict(moderator=bob, message_id=message.pk, kind="mute", minutes=10)
    staff = make_user(email="staff@example.com", is_staff=True)

    chat.chat_lift(moderator=staff, restriction_id=mute.pk)
    first = ChatRestriction.objects.get().lifted_at
    chat.chat_lift(moderator=bob, restriction_id=mute.pk)

    mute.refresh_from_db()
    assert mute.lifted_by == staff and mute.lifted_at == first
    assert post(alice_client, stream, "hello").status_code == 201


def test_another_creator_cannot_lift_a_ban_or_see_it(alice, bob, stream):
    message = chat.chat_post(author=alice, stream_id=stream.pk, text="rude")
    ban = chat.chat_restrict(moderator=bob, message_id=message.pk, kind="ban")
    dora = make_user(email="dora@example.com", display_name="Dora", is_creator=True)
    client = Client()
    client.force_login(dora)

    assert "Alice" not in client.get(reverse("gifting:studio")).content.decode()
    assert client.post(reverse("gifting:studio-chat-lift", args=[ban.pk])).status_code == 404
    assert client.post(reverse("gifting:studio-chat-lift", args=[999_999])).status_code == 404
    ban.refresh_from_db()
    assert ban.lifted_at is None
    with pytest.raises(chat.ChatNotFound):
        chat.chat_lift(moderator=alice, restriction_id=ban.pk)


def test_expired_mutes_are_not_listed(creator_client, alice, bob, stream):
    message = chat.chat_post(author=alice, stream_id=stream.pk, text="rude")
    mute = chat.chat_restrict(moderator=bob, message_id=message.pk, kind="mute", minutes=1)
    ChatRestriction.objects.filter(pk=mute.pk).update(until=timezone.now() - timedelta(seconds=1))
    page = creator_client.get(reverse("gifting:studio")).content.decode()
    assert "Nobody is muted or banned." in page


# --- Moderation from the studio -------------------------------------------------------------------


def test_the_studio_lists_recent_chat_escaped_with_moderation_buttons(creator_client, alice, bob, stream):
    chat.chat_post(author=alice, stream_id=stream.pk, text="<script>alert(1)</script> hi")
    cache.clear()
    chat.chat_post(author=bob, stream_id=stream.pk, text="welcome")

    page = creator_client.get(reverse("gifting:studio")).content.decode()

    assert "&lt;script&gt;alert(1)&lt;/script&gt; hi" in page and "<script>alert(1)" not in page
    assert page.count('name="action" value="ban"') == 1  # not on the creator's own message
    assert 'name="from" value="studio"' in page


@pytest.mark.parametrize(("action", "notice"), [("mute", "Muted in this stream"), ("ban", "Banned from the chat")])
def test_the_creator_mutes_or_bans_from_the_studio_and_comes_back_to_it(
    creator_client, alice_client, alice, bob, stream, action, notice
):
    message = chat.chat_post(author=alice, stream_id=stream.pk, text="rude")

    response = creator_client.post(
        reverse("gifting:chat-moderate", args=[message.pk]), {"action": action, "from": "studio"}
    )

    assert response.status_code == 302 and response.url.startswith(reverse("gifting:studio"))
    restriction = ChatRestriction.objects.get()
    assert (restriction.kind, restriction.viewer, restriction.created_by) == (action, alice, bob)
    page = creator_client.get(reverse("gifting:studio")).content.decode()
    assert notice in page and ("Lift ban" if action == "ban" else "Lift mute") in page
    assert post(alice_client, stream, "again").status_code == 403


def test_the_creator_deletes_from_the_studio_and_the_message_leaves_the_list(creator_client, alice, stream):
    message = chat.chat_post(author=alice, stream_id=stream.pk, text="spoiler text")

    response = creator_client.post(
        reverse("gifting:chat-moderate", args=[message.pk]), {"action": "delete", "from": "studio"}
    )

    assert response.status_code == 302
    message.refresh_from_db()
    assert message.deleted_at is not None
    page = creator_client.get(reverse("gifting:studio")).content.decode()
    assert "Message deleted." in page and "spoiler text" not in page


def test_a_refused_studio_action_is_shown_as_a_message(creator_client, bob, stream):
    own = chat.chat_post(author=bob, stream_id=stream.pk, text="mine")
    response = creator_client.post(reverse("gifting:chat-moderate", args=[own.pk]), {"action": "ban", "from": "studio"})
    assert response.status_code == 302
    assert "You cannot mute or ban yourself or the creator." in creator_client.get(response.url).content.decode()
    assert not ChatRestriction.objects.exists()


def test_the_studio_chat_is_absent_when_not_live(creator_client, bob, stream):
    stream_end(stream=stream, creator=bob)
    page = creator_client.get(reverse("gifting:studio")).content.decode()
    assert 'data-testid="studio-chat"' not in page
    assert 'data-testid="chat-settings-form"' in page
