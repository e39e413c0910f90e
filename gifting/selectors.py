"""Reads that feed the live pages: who is live, the gift catalogue, a stream's feed, leaderboard and goal.

Anonymous gifts never carry their sender's name out of here: feed items and leaderboard rows are
plain dataclasses with the name already replaced by "Anonymous".
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.utils.translation import gettext_lazy

from coinsite.accounts.models import User
from gifting import presence
from gifting.models import CreatorProfile, Gift, GiftEvent, GiftingPreferences, LiveStream

RECENT_STREAMS = 10

ANONYMOUS = gettext_lazy("Anonymous")  # in the reader's language where a page shows it
UNNAMED = "A viewer"  # never fall back to the email address


@dataclass(frozen=True)
class LeaderboardEntry:
    rank: int
    name: str
    coins: int
    is_anonymous: bool


@dataclass(frozen=True)
class FeedItem:
    event_id: int
    sender_name: str
    is_anonymous: bool
    gift_name: str
    gift_artwork_url: str
    quantity: int
    coins: int
    created_at: datetime
    message: str = ""
    gift_tier: str = ""


@dataclass(frozen=True)
class GoalProgress:
    goal_coins: int
    label: str
    coins: int

    @property
    def percent(self) -> int:
        """Whole percent reached, capped at 100."""
        return min(100, self.coins * 100 // self.goal_coins)

    @property
    def is_reached(self) -> bool:
        return self.coins >= self.goal_coins

    @property
    def remaining(self) -> int:
        return max(0, self.goal_coins - self.coins)


@dataclass(frozen=True)
class LiveCard:
    stream: LiveStream
    goal: GoalProgress | None
    viewers: int


def live_streams() -> QuerySet[LiveStream]:
    """Streams live now, busiest first, with their creator and profile loaded."""
    return (
        LiveStream.objects.filter(ended_at__isnull=True)
        .select_related("creator", "creator__creator_profile")
        .order_by("-viewer_count", "-started_at")
    )


def live_cards() -> list[LiveCard]:
    """The streams live now with their goal progress and the viewers present (from the cache), for the
    live list on /live/ and the home page."""
    streams = list(live_streams())
    viewers = presence.viewer_counts([stream.pk for stream in streams])
    return [
        LiveCard(stream=stream, goal=stream_goal_progress(stream), viewers=viewers[stream.pk]) for stream in streams
    ]


def gift_catalogue(user: User) -> list[Gift]:
    """The active gifts `user` may send, cheapest first (regional gifts only in their countries)."""
    return [gift for gift in Gift.objects.filter(is_active=True) if gift.is_offered_in(user.country)]


def recent_gifts(stream: LiveStream, limit: int = 20) -> list[FeedItem]:
    """The stream's latest gifts, newest first; anonymous ones without their sender's name."""
    events = (
        GiftEvent.objects.filter(stream=stream).select_related("gift", "sender").order_by("-created_at", "-id")[:limit]
    )
    return [
        FeedItem(
            event_id=event.pk,
            sender_name=_sender_name(event),
            is_anonymous=event.is_anonymous,
            gift_name=event.gift.display_name,
            gift_artwork_url=event.gift.artwork_url,
            quantity=event.quantity,
            coins=event.coins,
            created_at=event.created_at,
            message=event.message,
            gift_tier=event.gift.tier,
        )
        for event in events
    ]


def _sender_name(event: GiftEvent) -> str:
    return str(ANONYMOUS) if event.is_anonymous else event.sender.display_name or UNNAMED


def leaderboard(stream: LiveStream, limit: int = 10) -> list[LeaderboardEntry]:
    """The stream's top gifters by coins.

    A viewer's anonymous gifts form their own row named "Anonymous", never added to the viewer's
    named total (that would reveal who sent them). Viewers who opted out of leaderboards are left
    out entirely. Ties go to the lower user id, so the order is stable between refreshes.
    """
    hidden = GiftingPreferences.objects.filter(user=OuterRef("sender"), hide_from_leaderboards=True)
    totals = (
        GiftEvent.objects.filter(stream=stream)
        .filter(~Exists(hidden))
        .values("sender", "is_anonymous", "sender__display_name")  # the name in the same read (one per sender)
        .annotate(total=Sum("coins"))
        .order_by("-total", "sender", "is_anonymous")[:limit]
    )
    return [
        LeaderboardEntry(
            rank=rank,
            name=str(ANONYMOUS) if row["is_anonymous"] else row["sender__display_name"] or UNNAMED,
            coins=row["total"],
            is_anonymous=row["is_anonymous"],
        )
        for rank, row in enumerate(totals, start=1)
    ]


def stream_goal_progress(stream: LiveStream) -> GoalProgress | None:
    """Coins received on the stream against its goal (every gift counts), or None without a goal."""
    if not stream.goal_coins:
        return None
    coins = GiftEvent.objects.filter(stream=stream).aggregate(total=Sum("coins"))["total"] or 0
    return GoalProgress(goal_coins=stream.goal_coins, label=stream.goal_label, coins=coins)


def stream_diamonds(stream: LiveStream) -> int:
    """Diamonds the creator earned on this stream so far (an index-covered sum over one stream)."""
    return GiftEvent.objects.filter(stream=stream).aggregate(total=Sum("diamonds"))["total"] or 0


@dataclass(frozen=True)
class CreatorPage:
    creator: User
    profile: CreatorProfile | None
    live: LiveStream | None
    recent_streams: list[LiveStream]

    @property
    def initials(self) -> str:
        words = (self.creator.display_name or "?").split()
        return "".join(word[0] for word in words[:2]).upper()


def creator_page(creator_id: int) -> CreatorPage | None:
    """A creator's public profile: who they are, their live stream, their latest streams; None for non-creators."""
    creator = User.objects.filter(pk=creator_id, is_creator=True, is_active=True).first()
    if creator is None:
        return None
    profile = CreatorProfile.objects.filter(user=creator).first()
    streams = list(LiveStream.objects.filter(creator=creator).order_by("-started_at")[: RECENT_STREAMS + 1])
    live = next((stream for stream in streams if stream.is_live), None)
    return CreatorPage(
        creator=creator,
        profile=profile,
        live=live,
        recent_streams=[stream for stream in streams if stream is not live][:RECENT_STREAMS],
    )
