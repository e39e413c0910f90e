"""Static URLs once per process (`coinsite.lib.static_urls`): the gift's live event, the gift bar and avatars."""

from django.test import override_settings

from coinsite.lib.static_urls import static_url
from gifting.models import CreatorProfile, Gift


def test_a_static_url_is_worked_out_once_and_again_when_the_static_settings_change(monkeypatch):
    calls = []
    monkeypatch.setattr("coinsite.lib.static_urls.static", lambda path: calls.append(path) or f"/static/{path}")
    static_url.cache_clear()

    assert [static_url("gifts/rose.svg") for _ in range(3)] == ["/static/gifts/rose.svg"] * 3
    assert calls == ["gifts/rose.svg"]  # one storage lookup for the process
    with override_settings(STATIC_URL="/cdn/"):
        static_url("gifts/rose.svg")
    assert calls == ["gifts/rose.svg", "gifts/rose.svg"]  # worked out again under the new settings
    static_url.cache_clear()


def test_static_urls_follow_the_static_url_setting():
    static_url.cache_clear()
    assert static_url("gifts/rose.svg") == "/static/gifts/rose.svg"
    with override_settings(STATIC_URL="/cdn/"):
        assert static_url("gifts/rose.svg") == "/cdn/gifts/rose.svg"
    assert static_url("gifts/rose.svg") == "/static/gifts/rose.svg"


def test_a_gift_and_a_creator_name_their_pictures_through_it(monkeypatch):
    static_url.cache_clear()
    monkeypatch.setattr("coinsite.lib.static_urls.static", lambda path: f"/cached/{path}")
    assert Gift(artwork="gifts/rose.svg").artwork_url == "/cached/gifts/rose.svg"
    assert CreatorProfile(avatar="avatars/fox.svg").avatar_url == "/cached/avatars/fox.svg"
    assert CreatorProfile(avatar="").avatar_url == ""
    static_url.cache_clear()
