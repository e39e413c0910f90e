"""Demo data and the admin's read-only gift records."""

import io

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from coinsite.accounts.tests.factories import PASSWORD, enroll_totp, make_user, totp_code
from gifting.demo import STREAM_TITLE, seed_demo
from gifting.models import Gift, GiftEvent, LiveStream
from gifting.services import gift_send
from gifting.tests.support import ensure_countries, fund
from wallet.audit import ledger_audit_run
from wallet.ledger import user_balance
from wallet.models import Asset

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_users(db):
    ensure_countries()
    return {
        "viewer@coinsite.local": make_user(email="viewer@coinsite.local", display_name="Vera Viewer"),
        "creator@coinsite.local": make_user(
            email="creator@coinsite.local", display_name="Cleo Creates", is_creator=True, country="GB"
        ),
    }


def test_seed_demo_is_idempotent(demo_users):
    viewer = demo_users["viewer@coinsite.local"]
    fund(viewer, 5_000)

    seed_demo(users=demo_users, stdout=io.StringIO())
    balance_after_first = user_balance(viewer, Asset.COIN)
    seed_demo(users=demo_users, stdout=io.StringIO())

    stream = LiveStream.objects.get(creator=demo_users["creator@coinsite.local"], ended_at__isnull=True)
    assert stream.title == STREAM_TITLE
    assert stream.goal_coins == 5_000
    assert GiftEvent.objects.filter(stream=stream, sender=viewer).count() == 4
    assert balance_after_first == 5_000 - (5 * 1 + 2 * 25 + 100 + 199)
    assert user_balance(viewer, Asset.COIN) == balance_after_first
    assert ledger_audit_run().ok


def test_seed_demo_skips_gifts_the_viewer_cannot_afford(demo_users):
    out = io.StringIO()

    seed_demo(users=demo_users, stdout=out)

    assert LiveStream.objects.filter(title=STREAM_TITLE, ended_at__isnull=True).count() == 1
    assert not GiftEvent.objects.exists()
    assert "too few coins" in out.getvalue()


def test_gift_events_are_read_only_in_admin(charlie):
    request = RequestFactory().get("/admin/")
    request.user = charlie
    event_admin = admin.site._registry[GiftEvent]

    assert not event_admin.has_add_permission(request)
    assert not event_admin.has_change_permission(request)
    assert not event_admin.has_delete_permission(request)


def test_gifts_are_editable_in_admin_but_never_deleted():
    gift_admin = admin.site._registry[Gift]
    request = RequestFactory().get("/admin/")
    request.user = make_user(email="root@example.com", is_staff=True, is_superuser=True)

    assert gift_admin.has_change_permission(request)
    assert gift_admin.has_add_permission(request)
    assert not gift_admin.has_delete_permission(request)


def test_staff_see_gifting_in_admin(client, charlie, alice, stream, coffee):
    # Given a gift was sent
    fund(alice, 30)
    gift_send(sender=alice, stream_id=stream.pk, gift_id=coffee.pk, quantity=1, idempotency_key="admin-view")
    # And Charlie (a superuser) logged in to admin with his second factor
    charlie.is_superuser = True
    charlie.save(update_fields=["is_superuser"])
    device, _ = enroll_totp(charlie)
    client.post(reverse("account_login"), {"login": charlie.email, "password": PASSWORD})
    client.post(reverse("accounts:two-factor-login"), {"code": totp_code(device)})

    # Then the gifting pages open
    for name in ("gift", "livestream", "giftevent", "giftingpreferences", "creatorprofile"):
        assert client.get(reverse(f"admin:gifting_{name}_changelist")).status_code == 200, name
    gift_page = client.get(reverse("admin:gifting_gift_changelist")).content.decode()
    assert "gifts/rose.svg" in gift_page
    event = GiftEvent.objects.get()
    assert client.get(reverse("admin:gifting_giftevent_change", args=[event.pk])).status_code == 200
    assert client.get(reverse("admin:gifting_giftevent_add")).status_code == 403
