"""Demo data for gifting, called by `manage.py seed_demo` after the wallet's demo coins.

Idempotent: the demo creator has one live stream with a goal, and the demo viewer's gifts use
fixed idempotency keys (per stream), so running it again sends nothing twice.
"""

from django.core.management.base import OutputWrapper

from coinsite.accounts.models import User
from gifting.models import CreatorProfile, Gift, LiveStream
from gifting.services import GiftError, NotEnoughCoins, gift_send, stream_start

VIEWER_EMAIL = "viewer@coinsite.local"
CREATOR_EMAIL = "creator@coinsite.local"
STREAM_TITLE = "Late-night lo-fi & chat"
CREATOR_BIO = "Lo-fi beats, rainy-window vibes and a chat that never sleeps. Requests welcome."
CREATOR_AVATAR = "avatars/headphones.svg"
DEMO_GIFTS = [  # gift slug, quantity, anonymous
    ("rose", 5, False),
    ("coffee", 2, False),
    ("confetti", 1, True),
    ("guitar", 1, False),
]


def seed_demo(*, users: dict[str, User], stdout: OutputWrapper) -> None:
    creator, viewer = users[CREATOR_EMAIL], users[VIEWER_EMAIL]
    CreatorProfile.objects.get_or_create(user=creator, defaults={"bio": CREATOR_BIO, "avatar": CREATOR_AVATAR})
    stream = _demo_stream(creator)
    sent = 0
    for number, (slug, quantity, anonymous) in enumerate(DEMO_GIFTS, start=1):
        gift = Gift.objects.filter(slug=slug, is_active=True).first()
        if gift is None:
            continue
        try:
            gift_send(
                sender=viewer,
                stream_id=stream.pk,
                gift_id=gift.pk,
                quantity=quantity,
                idempotency_key=f"demo:{stream.pk}:{number}",
                anonymous=anonymous,
            )
        except NotEnoughCoins:
            stdout.write(f"Gifting demo: {viewer.email} has too few coins for {quantity} x {gift.name}; skipped.")
            break
        except GiftError as error:
            stdout.write(f"Gifting demo: could not send {gift.name}: {error}")
            break
        sent += 1
    stdout.write(f'Gifting demo: {creator.display_name} is live with "{stream.title}" ({sent} demo gift(s)).')


def _demo_stream(creator: User) -> LiveStream:
    live = LiveStream.objects.filter(creator=creator, ended_at__isnull=True).first()
    if live is not None:
        return live
    return stream_start(creator=creator, title=STREAM_TITLE, goal_coins=5_000, goal_label="A new microphone")
