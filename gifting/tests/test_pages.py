"""The live pages: live lists, the stream page and its gift bar, sending gifts by form, the feed, the studio."""

# ruff: noqa: RUF001  (the pages write quantities with a real multiplication sign, U+00D7)

import re

import pytest
from django.conf import settings
from django.urls import reverse

from coinsite.accounts.tests.factories import make_user
from gifting.chat import chat_post
from gifting.models import GiftEvent, GiftingPreferences, LiveStream
from gifting.services import gift_send, stream_end, stream_goal_set, stream_start
from gifting.tests.support import (
    FEED_FRAGMENT_QUERY_BUDGET,
    STREAM_PAGE_QUERY_BUDGET,
    fund,
    key_in,
    make_gift,
    send_form,
    snapshot,
)
from wallet.ledger import user_balance
from wallet.models import Asset

pytestmark = pytest.mark.django_db


# --- Live lists -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "label"),
    [("en", "Goal: New tablet"), ("fr", "Objectif\N{NO-BREAK SPACE}: New tablet"), ("ja", "目標：New tablet")],
)
def test_the_goal_label_is_punctuated_the_languages_way(client, stream, language, label):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language

    html = client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()

    assert f"<span>{label}</span>" in html
    # What the page's script draws when a goal event arrives: the same sentence, with the label in its slot.
    assert f'data-goal-labelled="{label.replace("New tablet", "{label}")}"' in html


def test_index_and_home_list_live_streams_with_goal_progress(client, stream, alice, rose):
    fund(alice, 500)
    gift_send(
        sender=alice,
        stream_id=stream.pk,
        gift_id=make_gift(slug="test-cake", coin_cost=250).pk,
        quantity=1,
        idempotency_key="k1",
    )
    ended = stream_start(
        creator=make_user(email="dora@example.com", display_name="Dora", is_creator=True), title="Old news"
    )
    stream_end(stream=ended, creator=ended.creator)

    for url in (reverse("gifting:index"), reverse("home")):
        html = client.get(url).content.decode()
        assert "Friday night sketching" in html
        assert "Bob" in html
        assert "250 / 1,000 coins" in html
        assert reverse("gifting:stream", args=[stream.pk]) in html
        assert "Old news" not in html


def test_index_says_when_nobody_is_live(client, db):
    assert "Nobody is live right now" in client.get(reverse("gifting:index")).content.decode()


# --- Stream page ----------------------------------------------------------------------------------


def test_stream_page_shows_prices_in_coins_and_money_balance_feed_and_leaderboard(
    alice_client, alice, stream, rose, lion
):
    fund(alice, 1_000)
    carol = make_user(email="carol@example.com", display_name="Carol")
    fund(carol, 100)
    gift_send(sender=carol, stream_id=stream.pk, gift_id=rose.pk, quantity=3, idempotency_key="c1")
    gift_send(sender=carol, stream_id=stream.pk, gift_id=rose.pk, quantity=2, idempotency_key="c2", anonymous=True)

    response = alice_client.get(reverse("gifting:stream", args=[stream.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "29,999 coins" in html and "($424.28)" in html  # Lion, at the base USD price per coin
    assert re.search(
        r'data-testid="balance"><span class="coins">1,000 coins</span> <span class="coin-value">'
        r"\(\$14\.14\)</span>\s*</span>",
        html,
    )
    assert "<strong>Carol</strong> sent 3 × Rose" in html
    assert "<strong>Anonymous</strong> sent 2 × Rose" in html
    assert re.search(r'leader-name">Carol</span> <span class="coins">3 coins', html)
    assert 'name="quantity"' in html and 'max="99"' in html and 'name="anonymous"' in html
    assert 'role="log"' in html  # announces new items only (implicit aria-live="polite", additions)


def test_visitors_see_log_in_to_send_gifts_and_no_gift_bar(client, stream, catalogue):
    html = client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()
    assert "Log in to chat and send gifts" in html
    assert 'data-testid="gift-bar"' not in html


def test_ended_stream_says_so_and_has_no_gift_bar(alice_client, bob, stream):
    stream_end(stream=stream, creator=bob)
    html = alice_client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()
    assert "This stream has ended" in html
    assert 'data-testid="gift-bar"' not in html


def test_unknown_stream_is_404(alice_client):
    assert alice_client.get(reverse("gifting:stream", args=[999_999])).status_code == 404


def test_stream_url_plays_in_a_video_element(client, bob, countries):
    live = stream_start(creator=bob, title="With video", stream_url="https://example.com/live.m3u8")
    response = client.get(reverse("gifting:stream", args=[live.pk]))
    html = response.content.decode()
    assert 'data-src="https://example.com/live.m3u8"' in html
    assert '<video class="player-video"' in html and "js/player.js" in html and "vendor/hlsjs/hls.light.min.js" in html
    policy = response["Content-Security-Policy"]
    assert "media-src 'self' blob: https://example.com" in policy
    assert "connect-src 'self' https://example.com;" in policy


# --- Sending --------------------------------------------------------------------------------------


def test_the_same_form_posted_twice_charges_once(alice_client, alice, bob, stream, rose):
    fund(alice, 100)
    key = key_in(alice_client.get(reverse("gifting:stream", args=[stream.pk])).content.decode())

    first = send_form(alice_client, stream, rose, key=key, quantity=5)
    second = send_form(alice_client, stream, rose, key=key, quantity=5)

    assert first.status_code == second.status_code == 302
    assert first.url == reverse("gifting:stream", args=[stream.pk])
    assert user_balance(alice, Asset.COIN) == 95
    assert user_balance(bob, Asset.DIAMOND) == 5
    assert GiftEvent.objects.filter(sender=alice).count() == 1
    page = alice_client.get(first.url).content.decode()
    assert "You sent 5 × Rose to Bob." in page


def test_each_page_load_renders_a_new_idempotency_key(alice_client, alice, stream, rose):
    fund(alice, 10)  # a viewer without coins is shown "Buy coins", not the form
    url = reverse("gifting:stream", args=[stream.pk])
    assert key_in(alice_client.get(url).content.decode()) != key_in(alice_client.get(url).content.decode())


def test_anonymous_gift_by_form(alice_client, alice, stream, rose):
    fund(alice, 10)
    send_form(alice_client, stream, rose, key="anon-1", anonymous=True)
    assert GiftEvent.objects.get(sender=alice).is_anonymous


def test_large_gift_asks_for_confirmation_and_charges_nothing_until_confirmed(alice_client, alice, stream, lion):
    fund(alice, 30_000)
    before = snapshot()

    response = send_form(alice_client, stream, lion, key="big-1")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Send 1 × Lion for 29,999 coins (≈ $424.28)?" in html
    assert 'name="idempotency_key" value="big-1"' in html
    assert 'name="confirmed" value="True"' in html
    assert reverse("gifting:stream", args=[stream.pk]) in html  # Cancel
    assert snapshot() == before

    confirmed = send_form(alice_client, stream, lion, key="big-1", confirmed=True)
    again = send_form(alice_client, stream, lion, key="big-1", confirmed=True)

    assert confirmed.status_code == again.status_code == 302
    assert user_balance(alice, Asset.COIN) == 1
    assert GiftEvent.objects.filter(sender=alice).count() == 1


def test_not_enough_coins_shows_the_exact_shortfall_and_a_recharge_link(alice_client, alice, stream, catalogue):
    bear = make_gift(slug="test-bear", coin_cost=250)
    fund(alice, 100)
    before = snapshot()

    response = send_form(alice_client, stream, bear, key="short-1")

    html = response.content.decode()
    assert response.status_code == 402
    assert "You need 150 more coins" in html
    assert f'href="{reverse("wallet:recharge")}?coins=150"' in html
    assert snapshot() == before


def test_recharge_page_prefills_the_shortfall(alice_client):
    html = alice_client.get(reverse("wallet:recharge") + "?coins=150").content.decode()
    assert re.search(r'name="choice" value="custom" checked', html)
    assert re.search(r'name="custom_coins" id="id_custom_coins"[^>]*value="150"', html)


def test_recharge_prefill_below_the_minimum_uses_the_minimum(alice_client):
    html = alice_client.get(reverse("wallet:recharge") + "?coins=5").content.decode()
    assert re.search(r'name="custom_coins" id="id_custom_coins"[^>]*value="30"', html)
    assert not re.search(r'id="id_custom_coins"[^>]*value="5"', html)


@pytest.mark.parametrize("coins", ["abc", "-5", "²", "9" * 5000])
def test_recharge_ignores_a_bad_coins_parameter(alice_client, coins):
    response = alice_client.get(reverse("wallet:recharge"), {"coins": coins})
    assert response.status_code == 200
    assert 'value="custom" checked' not in response.content.decode()


def test_a_key_reused_for_another_gift_is_409_and_the_retry_form_has_a_fresh_key(alice_client, alice, stream, rose):
    fund(alice, 10)
    send_form(alice_client, stream, rose, key="same", quantity=1)
    before = snapshot()

    response = send_form(alice_client, stream, rose, key="same", quantity=2)

    html = response.content.decode()
    assert response.status_code == 409
    assert "already used for a different gift" in html
    assert key_in(html) != "same"
    assert snapshot() == before


def test_gift_on_an_ended_stream_is_refused_with_its_reason(alice_client, alice, bob, stream, rose):
    fund(alice, 10)
    stream_end(stream=stream, creator=bob)
    before = snapshot()

    response = send_form(alice_client, stream, rose, key="late-1")

    assert response.status_code == 403
    assert "This stream has ended, so gifts can no longer be sent to it." in response.content.decode()
    assert snapshot() == before


@pytest.mark.parametrize("quantity", [0, 100, "lots"])
def test_invalid_quantity_is_400_and_changes_nothing(alice_client, alice, stream, rose, quantity):
    fund(alice, 1_000)
    before = snapshot()
    response = send_form(alice_client, stream, rose, key="q-1", quantity=quantity)
    assert response.status_code == 400
    assert "Choose a quantity from 1 to 99." in response.content.decode()
    assert snapshot() == before


def test_sending_needs_a_login(client, stream, rose):
    before = snapshot()
    response = send_form(client, stream, rose, key="nologin")
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))
    assert snapshot() == before


def test_sending_is_post_only(alice_client, stream):
    assert alice_client.get(reverse("gifting:send", args=[stream.pk])).status_code == 405


# --- Feed fragment --------------------------------------------------------------------------------


def test_feed_fragment_has_new_gifts_anonymous_ones_and_big_gift_animation(client, alice, stream, rose, lion):
    fund(alice, 30_100)
    gift_send(sender=alice, stream_id=stream.pk, gift_id=rose.pk, quantity=1, idempotency_key="f1")
    gift_send(sender=alice, stream_id=stream.pk, gift_id=rose.pk, quantity=4, idempotency_key="f2", anonymous=True)
    gift_send(sender=alice, stream_id=stream.pk, gift_id=lion.pk, quantity=1, idempotency_key="f3")

    response = client.get(reverse("gifting:feed", args=[stream.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and "Send a gift" not in html
    assert "<strong>Alice</strong> sent 1 × Rose" in html
    assert "<strong>Anonymous</strong> sent 4 × Rose" in html
    assert len(re.findall(r'class="feed-item feed-item-big"', html)) == 1
    assert "30,004 / 1,000 coins" in html
    assert "no-cache" in response["Cache-Control"]


def test_stream_page_loads_the_polling_script(client, stream):
    assert "js/live.js" in client.get(reverse("gifting:stream", args=[stream.pk])).content.decode()


# --- Leaderboard visibility -----------------------------------------------------------------------


def test_viewer_hides_from_leaderboards(alice_client, alice, stream, rose):
    fund(alice, 10)
    gift_send(sender=alice, stream_id=stream.pk, gift_id=rose.pk, quantity=2, idempotency_key="p1")
    stream_url = reverse("gifting:stream", args=[stream.pk])

    response = alice_client.post(reverse("gifting:preferences"), {"hide_from_leaderboards": "on", "next": stream_url})

    assert response.status_code == 302 and response.url == stream_url
    assert GiftingPreferences.objects.get(user=alice).hide_from_leaderboards
    assert 'leader-name">Alice' not in alice_client.get(stream_url).content.decode()


def test_preferences_never_redirect_off_site(alice_client):
    response = alice_client.post(reverse("gifting:preferences"), {"next": "https://evil.example/"})
    assert response.url == reverse("gifting:index")


# --- Studio ---------------------------------------------------------------------------------------


def test_studio_is_for_creators_only(alice_client, client):
    assert alice_client.get(reverse("gifting:studio")).status_code == 403
    assert alice_client.post(reverse("gifting:studio-start"), {"title": "Me too"}).status_code == 403
    assert not LiveStream.objects.exists()
    client.logout()
    assert client.get(reverse("gifting:studio")).status_code == 302


def test_creator_goes_live_sets_and_clears_the_goal_and_ends_the_stream(bob_client, bob):
    response = bob_client.post(
        reverse("gifting:studio-start"),
        {"title": "Evening jam", "stream_url": "", "goal_coins": "2000", "goal_label": "Strings"},
    )
    assert response.status_code == 302
    live = LiveStream.objects.get(creator=bob, ended_at__isnull=True)
    assert (live.title, live.goal_coins, live.goal_label) == ("Evening jam", 2_000, "Strings")

    bob_client.post(reverse("gifting:studio-goal", args=[live.pk]), {"goal_coins": "5000", "goal_label": "Amp"})
    live.refresh_from_db()
    assert (live.goal_coins, live.goal_label) == (5_000, "Amp")
    bob_client.post(reverse("gifting:studio-goal", args=[live.pk]), {"goal_coins": "", "goal_label": ""})
    live.refresh_from_db()
    assert live.goal_coins is None

    bob_client.post(reverse("gifting:studio-end", args=[live.pk]))
    live.refresh_from_db()
    assert not live.is_live
    assert "Go live" in bob_client.get(reverse("gifting:studio")).content.decode()


def test_studio_explains_obs_and_shows_the_ingest_and_playback_addresses(bob_client, bob, settings):
    settings.LIVE_INGEST_URL = "rtmp://ingest.example.com:1935"
    settings.LIVE_PLAYBACK_URL = "https://video.example.com"

    html = bob_client.get(reverse("gifting:studio")).content.decode()

    assert 'data-testid="ingest-server"' in html and 'value="rtmp://ingest.example.com:1935"' in html
    assert f'value="creator-{bob.pk}" data-testid="ingest-key"' in html
    playback = f"https://video.example.com/creator-{bob.pk}/index.m3u8"
    assert f'value="{playback}" data-testid="playback-address"' in html
    assert f'name="stream_url" value="{playback}"' in html  # the go-live form starts with it
    assert "MediaMTX" in html and "OBS" in html


def test_studio_puts_go_live_first_and_says_optional_once(bob_client):
    html = bob_client.get(reverse("gifting:studio")).content.decode()

    assert "(optional) (optional)" not in html
    assert "(optional)</span> <span" not in html
    for field, label in (("stream_url", "Stream link"), ("goal_coins", "Goal in coins")):
        assert f'for="id_{field}">{label} <span class="muted">(optional)</span></label>' in html
    go_live = html.index('data-testid="go-live"')
    assert go_live < html.index('data-testid="profile-form"')
    assert go_live < html.index("Stream overlay")


def test_go_live_with_a_bad_link_is_400_and_starts_nothing(bob_client, bob):
    response = bob_client.post(reverse("gifting:studio-start"), {"title": "Jam", "stream_url": "javascript:alert(1)"})
    assert response.status_code == 400
    assert "The stream link must be an https:// address" in response.content.decode()
    assert not LiveStream.objects.exists()


def test_studio_shows_incoming_gifts_and_diamonds_with_money_value(bob_client, alice, stream, catalogue):
    fund(alice, 1_000)
    gift_send(
        sender=alice,
        stream_id=stream.pk,
        gift_id=make_gift(slug="test-cake", coin_cost=250).pk,
        quantity=2,
        idempotency_key="s1",
        anonymous=True,
    )

    html = bob_client.get(reverse("gifting:studio")).content.decode()

    assert "<strong>500 diamonds</strong>" in html and "(£1.97)" in html  # $2.50 in Bob's pounds
    assert "Anonymous" in html and "2 × Test Cake" in html
    assert "Alice" not in html


def test_only_the_streams_creator_can_end_it_or_set_its_goal(client, stream, bob):
    dora = make_user(email="dora@example.com", display_name="Dora", is_creator=True)
    client.force_login(dora)

    assert client.post(reverse("gifting:studio-end", args=[stream.pk])).status_code == 404
    assert client.post(reverse("gifting:studio-goal", args=[stream.pk]), {"goal_coins": "1"}).status_code == 404

    stream.refresh_from_db()
    assert stream.is_live and stream.goal_coins == 1_000


def test_viewers_cannot_end_a_stream(alice_client, stream):
    assert alice_client.post(reverse("gifting:studio-end", args=[stream.pk])).status_code == 403
    stream.refresh_from_db()
    assert stream.is_live


def test_the_feed_fragment_stays_within_its_query_budget(
    client, alice, stream, rose, catalogue, django_assert_max_num_queries
):
    carol = make_user(email="carol@example.com", display_name="Carol")
    fund(carol, 100)
    for number in range(5):
        gift_send(sender=carol, stream_id=stream.pk, gift_id=rose.pk, quantity=1, idempotency_key=f"b{number}")
    chat_post(author=carol, stream_id=stream.pk, text="hello")
    url = reverse("gifting:feed", args=[stream.pk])
    client.get(url)  # settings and prices are cached per process after the first

    with django_assert_max_num_queries(FEED_FRAGMENT_QUERY_BUDGET):
        anonymous = client.get(url)
    client.force_login(alice)
    client.get(url)
    with django_assert_max_num_queries(FEED_FRAGMENT_QUERY_BUDGET + 2):
        logged_in = client.get(url)

    assert anonymous.status_code == logged_in.status_code == 200
    assert "<strong>Carol</strong>" in anonymous.content.decode()


def test_the_stream_page_stays_within_its_query_budget(
    alice_client, alice, stream, rose, catalogue, django_assert_max_num_queries
):
    fund(alice, 100)
    carol = make_user(email="carol@example.com", display_name="Carol")
    fund(carol, 100)
    for number in range(5):
        gift_send(sender=carol, stream_id=stream.pk, gift_id=rose.pk, quantity=1, idempotency_key=f"b{number}")
    chat_post(author=carol, stream_id=stream.pk, text="hello")
    url = reverse("gifting:stream", args=[stream.pk])
    alice_client.get(url)  # settings and prices are cached per process after the first

    with django_assert_max_num_queries(STREAM_PAGE_QUERY_BUDGET):
        response = alice_client.get(url)

    assert response.status_code == 200


def test_the_goal_bar_is_named_in_the_viewers_language(client, bob, stream):
    stream_goal_set(stream=stream, creator=bob, goal_coins=1_000, goal_label="New camera")

    html = client.get(reverse("gifting:stream", args=[stream.pk]), HTTP_ACCEPT_LANGUAGE="fr").content.decode()

    assert 'aria-label="Progression de l’objectif : 0 pour cent"' in html
    # The page's script names the bar again as gifts move it, from the same words.
    assert 'data-goal-progress="Progression de l’objectif : {percent} pour cent"' in html


def test_a_french_viewer_reads_anonymous_gifts_and_the_viewer_count_in_french(client, alice, stream, rose):
    fund(alice, 10)
    gift_send(sender=alice, stream_id=stream.pk, gift_id=rose.pk, quantity=1, idempotency_key="anon", anonymous=True)

    html = client.get(reverse("gifting:stream", args=[stream.pk]), HTTP_ACCEPT_LANGUAGE="fr").content.decode()

    assert "<strong>Anonyme</strong>" in html and "Anonymous" not in html  # the feed and the leaderboard
    assert "Spectateurs en ce moment : <span data-live-viewers>0</span>" in html  # right for 1 viewer as for 5
