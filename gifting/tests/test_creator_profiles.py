"""Public creator profiles, and creators editing their bio and avatar from the studio."""

import pytest
from django.urls import reverse

from coinsite.accounts.tests.factories import make_user
from gifting.models import CreatorProfile
from gifting.services import ProfileError, creator_profile_update, stream_end, stream_start

pytestmark = pytest.mark.django_db


def profile_url(user) -> str:
    return reverse("gifting:creator", args=[user.pk])


def test_profile_shows_name_bio_avatar_live_stream_and_recent_streams(client, bob, countries):
    creator_profile_update(creator=bob, bio="Sketching & chat.\nEvery Friday.", avatar="avatars/owl.svg")
    old = stream_start(creator=bob, title="Tuesday inks")
    stream_end(stream=old, creator=bob)
    live = stream_start(creator=bob, title="Friday night sketching")

    response = client.get(profile_url(bob))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Bob</h1>" in html
    assert "Sketching &amp; chat.<br>Every Friday." in html
    assert "/static/avatars/owl.svg" in html
    assert 'data-testid="creator-live"' in html
    assert reverse("gifting:stream", args=[live.pk]) in html
    streams = html.split('data-testid="creator-streams"')[1]
    assert "Tuesday inks" in streams and reverse("gifting:stream", args=[old.pk]) in streams
    assert "Friday night sketching" not in streams  # shown once, as the live stream
    assert "bob@example.com" not in html


def test_profile_without_a_profile_row_shows_initials_and_offline(client, countries):
    dora = make_user(email="dora@example.com", display_name="Dora Dee", is_creator=True)

    html = client.get(profile_url(dora)).content.decode()

    assert 'class="avatar avatar-large" aria-hidden="true">DD</span>' in html
    assert 'data-testid="creator-offline"' in html
    assert "No earlier streams yet." in html


@pytest.mark.parametrize("who", ["viewer", "staff", "missing", "inactive"])
def test_profile_is_404_for_anyone_but_an_active_creator(client, alice, charlie, who):
    target = {
        "viewer": alice.pk,
        "staff": charlie.pk,
        "missing": 999_999,
        "inactive": make_user(email="gone@example.com", is_creator=True, is_active=False).pk,
    }[who]

    assert client.get(reverse("gifting:creator", args=[target])).status_code == 404


def test_stream_page_and_live_list_link_the_creators_profile(client, bob, stream):
    for url in (reverse("gifting:stream", args=[stream.pk]), reverse("gifting:index"), reverse("home")):
        assert profile_url(bob) in client.get(url).content.decode()


def test_creator_edits_bio_and_avatar_in_the_studio(bob_client, bob):
    page = bob_client.get(reverse("gifting:studio")).content.decode()
    assert 'data-testid="profile-form"' in page and "/static/avatars/fox.svg" in page

    response = bob_client.post(
        reverse("gifting:studio-profile"), {"bio": "  Ink and coffee.  ", "avatar": "avatars/fox.svg"}
    )

    assert response.status_code == 302 and response.url == reverse("gifting:studio")
    profile = CreatorProfile.objects.get(user=bob)
    assert (profile.bio, profile.avatar) == ("Ink and coffee.", "avatars/fox.svg")
    assert "/static/avatars/fox.svg" in bob_client.get(profile_url(bob)).content.decode()

    bob_client.post(reverse("gifting:studio-profile"), {"bio": "", "avatar": ""})

    profile.refresh_from_db()
    assert (profile.bio, profile.avatar) == ("", "")
    assert profile.overlay_token  # the overlay secret survives profile edits


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bio": "x" * 501, "avatar": ""}, "at most 500 characters"),
        ({"bio": "Hi", "avatar": "../../secrets.txt"}, "Choose one of the avatars shown, or none."),
    ],
)
def test_bad_profile_input_is_400_and_changes_nothing(bob_client, bob, data, message):
    creator_profile_update(creator=bob, bio="Before", avatar="avatars/cat.svg")

    response = bob_client.post(reverse("gifting:studio-profile"), data)

    assert response.status_code == 400
    assert message in response.content.decode()
    profile = CreatorProfile.objects.get(user=bob)
    assert (profile.bio, profile.avatar) == ("Before", "avatars/cat.svg")


def test_viewers_cannot_edit_a_profile(client, alice):
    client.force_login(alice)

    response = client.post(reverse("gifting:studio-profile"), {"bio": "Hacked", "avatar": ""})

    assert response.status_code == 403
    assert not CreatorProfile.objects.exists()


@pytest.mark.parametrize(
    ("bio", "avatar", "message"),
    [
        ("x" * 501, "", "Keep your bio to 500 characters."),
        ("Hi", "avatars/../x.svg", "Choose one of the avatars shown, or none."),
    ],
)
def test_profile_service_refuses_bad_input(bob, bio, avatar, message):
    with pytest.raises(ProfileError, match=message.replace(".", r"\.")):
        creator_profile_update(creator=bob, bio=bio, avatar=avatar)
    assert not CreatorProfile.objects.exists()


def test_profile_service_is_for_creators_only(alice):
    with pytest.raises(ProfileError):
        creator_profile_update(creator=alice, bio="Hi", avatar="")
    assert not CreatorProfile.objects.exists()


def test_windows_line_endings_do_not_count_twice(bob):
    profile = creator_profile_update(creator=bob, bio="a\r\n" * 250, avatar="")
    assert profile.bio == ("a\n" * 250).strip()
