"""What the live layer reads from the database, the source of truth for resuming a stream and catching up.

Everything here is synchronous and short. The hub runs it on a worker thread that hands its database
connection back before any event stream starts or continues (`gifting.live.hub.with_database`), so no
open stream ever holds a connection.

Replayable events are rows. Each kind of row is a *source* with a one-letter name in the cursor
("g" for gifts); `register_source` adds one (chat messages will be "c").
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet, Sum
from django.utils import timezone

from coinsite.lib.snapshot import one_snapshot
from gifting import presence, selectors
from gifting.live.events import (
    CHAT,
    CHAT_SOURCE,
    GIFT,
    GIFT_SOURCE,
    STREAM,
    LiveEvent,
    chat_payload,
    cursor_format,
    dumps,
    epoch_ms,
    gift_payload,
    goal_payload,
)
from gifting.models import ChatMessage, GiftEvent, LiveStream

REPLAY_LIMIT = 200  # per source; beyond this a resuming page reloads its state once (a `reset` event)
POLL_GIFTS = 20
POLL_CHAT = 30
# Gift ids are handed out inside the gift's transaction, which lasts milliseconds: a gift with a higher
# id than another was created less than this before it, so a replay can use the (stream, created_at)
# index instead of scanning every gift the stream ever had.
ID_ORDER_MARGIN = timedelta(minutes=10)
# Rows of the last RECENT_WINDOW are compared with what a hub delivered, to find what the bus lost.
RECENT_WINDOW = timedelta(minutes=2)
RECENT_LIMIT = 5_000


@dataclass(frozen=True)
class Source:
    """The rows behind one replayable event type, each read returning `LiveEvent`s as they were published.

    - `after(stream, id, limit)`: the stream's events with a higher id, oldest first, at most `limit`;
    - `only(stream, ids)`: those events;
    - `recent(stream, since)`: ids of the stream's rows created since then (newest first, at most RECENT_LIMIT);
    - `latest(stream)`: the stream's highest id (0 for none).
    """

    after: Callable[[LiveStream, int, int], list[LiveEvent]]
    only: Callable[[LiveStream, list[int]], list[LiveEvent]]
    recent: Callable[[LiveStream, datetime], list[int]]
    latest: Callable[[LiveStream], int]


_sources: dict[str, Source] = {}


def register_source(
    letter: str,
    *,
    after: Callable[[LiveStream, int, int], list[LiveEvent]],
    only: Callable[[LiveStream, list[int]], list[LiveEvent]],
    recent: Callable[[LiveStream, datetime], list[int]],
    latest: Callable[[LiveStream], int],
) -> None:
    """Make events published with `source=letter` resumable from their rows (see `Source`)."""
    if len(letter) != 1 or not letter.islower():
        raise ValueError("A live event source is named by one lowercase letter.")
    _sources[letter] = Source(after=after, only=only, recent=recent, latest=latest)


# --- Gifts --------------------------------------------------------------------------------------


def _gift_rows() -> QuerySet[GiftEvent]:
    return GiftEvent.objects.select_related("gift", "sender").only(
        "stream_id",
        "quantity",
        "coins",
        "is_anonymous",
        "message",
        "created_at",
        "gift__name",
        "gift__artwork",
        "gift__tier",
        "sender__display_name",
    )


def gift_event_payload(event: GiftEvent) -> dict[str, Any]:
    """The published payload of a stored gift (as `gifting.services` publishes it, with its creation time)."""
    return {
        **gift_payload(
            event_id=event.pk,
            stream_id=event.stream_id,
            gift_id=event.gift_id,
            gift_name=event.gift.name,
            artwork=event.gift.artwork,
            tier=event.gift.tier,
            quantity=event.quantity,
            coins=event.coins,
            sender_name="" if event.is_anonymous else event.sender.display_name,
            anonymous=event.is_anonymous,
            created_at=event.created_at,
            message=event.message,
        ),
        "committed_at": epoch_ms(event.created_at),
    }


def _gift_events(rows: Iterable[GiftEvent]) -> list[LiveEvent]:
    return [
        LiveEvent(
            stream_id=event.stream_id,
            type=GIFT,
            data=dumps(gift_event_payload(event)),
            source=GIFT_SOURCE,
            event_id=event.pk,
        )
        for event in rows
    ]


def gifts_after(stream: LiveStream, after_id: int, limit: int) -> list[LiveEvent]:
    rows = _gift_rows().filter(stream_id=stream.pk, pk__gt=after_id)
    anchor = GiftEvent.objects.filter(pk=after_id).values_list("created_at", flat=True).first()
    if anchor is not None:
        rows = rows.filter(created_at__gte=anchor - ID_ORDER_MARGIN)
    return _gift_events(rows.order_by("pk")[:limit])


def gifts_only(stream: LiveStream, ids: list[int]) -> list[LiveEvent]:
    return _gift_events(_gift_rows().filter(stream_id=stream.pk, pk__in=ids).order_by("pk"))


def gifts_recent(stream: LiveStream, since: datetime) -> list[int]:
    return list(
        GiftEvent.objects.filter(stream_id=stream.pk, created_at__gte=since)
        .order_by("-created_at")
        .values_list("pk", flat=True)[:RECENT_LIMIT]
    )


def gifts_latest(stream: LiveStream) -> int:
    # The (creator, id) index: this creator's latest gifts are nearly all on their current stream.
    latest = (
        GiftEvent.objects.filter(creator_id=stream.creator_id, stream_id=stream.pk)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return latest or 0


register_source(GIFT_SOURCE, after=gifts_after, only=gifts_only, recent=gifts_recent, latest=gifts_latest)


# --- Chat ---------------------------------------------------------------------------------------
# Deleted messages are left out of every read: a page resuming after a delete does not get them back.


def _chat_rows() -> QuerySet[ChatMessage]:
    return (
        ChatMessage.objects.filter(deleted_at__isnull=True)
        .select_related("author", "stream")
        .only("stream_id", "text", "created_at", "author__display_name", "stream__creator_id")
    )


def chat_message_payload(message: ChatMessage) -> dict[str, Any]:
    """The published payload of a stored chat message (as `gifting.chat` publishes it, with its creation time)."""
    return {
        **chat_payload(
            message_id=message.pk,
            stream_id=message.stream_id,
            author_name=message.author.display_name,
            text=message.text,
            is_creator=message.author_id == message.stream.creator_id,
            created_at=message.created_at,
        ),
        "committed_at": epoch_ms(message.created_at),
    }


def _chat_events(rows: Iterable[ChatMessage]) -> list[LiveEvent]:
    return [
        LiveEvent(
            stream_id=message.stream_id,
            type=CHAT,
            data=dumps(chat_message_payload(message)),
            source=CHAT_SOURCE,
            event_id=message.pk,
        )
        for message in rows
    ]


def chat_after(stream: LiveStream, after_id: int, limit: int) -> list[LiveEvent]:
    return _chat_events(_chat_rows().filter(stream_id=stream.pk, pk__gt=after_id).order_by("pk")[:limit])


def chat_only(stream: LiveStream, ids: list[int]) -> list[LiveEvent]:
    return _chat_events(_chat_rows().filter(stream_id=stream.pk, pk__in=ids).order_by("pk"))


def chat_recent(stream: LiveStream, since: datetime) -> list[int]:
    return list(
        ChatMessage.objects.filter(stream_id=stream.pk, created_at__gte=since, deleted_at__isnull=True)
        .order_by("-created_at")
        .values_list("pk", flat=True)[:RECENT_LIMIT]
    )


def chat_latest(stream: LiveStream) -> int:
    latest = ChatMessage.objects.filter(stream_id=stream.pk).order_by("-pk").values_list("pk", flat=True).first()
    return latest or 0


register_source(CHAT_SOURCE, after=chat_after, only=chat_only, recent=chat_recent, latest=chat_latest)


def recent_chat(stream_id: int, limit: int) -> list[dict[str, Any]]:
    """The stream's latest chat messages as payloads, newest first (what a page renders before its events)."""
    return [chat_message_payload(message) for message in _chat_rows().filter(stream_id=stream_id)[:limit]]


# --- Streams ------------------------------------------------------------------------------------


@dataclass
class StreamMeta:
    """What a hub keeps about a stream it serves: its state, goal progress and where each source stands."""

    stream_id: int
    creator_id: int
    title: str
    is_live: bool
    ended_at: str | None
    goal_coins: int | None
    goal_label: str
    coins: int
    recent: dict[str, list[int]] = field(default_factory=dict)
    cursor: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, stream: LiveStream, *, coins: int, **reads: dict[str, Any]) -> "StreamMeta":
        return cls(
            stream_id=stream.pk,
            creator_id=stream.creator_id,
            title=stream.title,
            is_live=stream.is_live,
            ended_at=stream.ended_at.isoformat() if stream.ended_at else None,
            goal_coins=stream.goal_coins,
            goal_label=stream.goal_label,
            coins=coins,
            **reads,
        )

    def stream_payload(self) -> dict:
        return {"id": self.stream_id, "state": "live" if self.is_live else "ended", "ended_at": self.ended_at}

    def goal_payload(self) -> dict:
        return goal_payload(goal_coins=self.goal_coins, label=self.goal_label, coins=self.coins)


def _load_stream(stream_id: int) -> LiveStream | None:
    return (
        LiveStream.objects.filter(pk=stream_id)
        .only("creator_id", "title", "ended_at", "goal_coins", "goal_label")
        .first()
    )


def stream_meta(stream_id: int, *, with_coins: bool = True) -> StreamMeta | None:
    """The stream's state, its coins so far, each source's recent row ids and latest id.

    Read in one snapshot (REPEATABLE READ), so a gift is either in both the coins and the recent ids or
    in neither: the hub then counts each later gift towards the goal exactly once. Refreshes skip the
    coins (a sum over the whole stream); the hub keeps counting from its first read.
    """
    with one_snapshot(read_only=False):
        stream = _load_stream(stream_id)
        if stream is None:
            return None
        coins = _stream_coins(stream) if with_coins else 0
        since = timezone.now() - RECENT_WINDOW
        recent = {letter: source.recent(stream, since) for letter, source in _sources.items()}
        latest = {letter: source.latest(stream) for letter, source in _sources.items()}
    return StreamMeta.of(stream, coins=coins, recent=recent, cursor=latest)


def _stream_coins(stream: LiveStream) -> int:
    return GiftEvent.objects.filter(stream_id=stream.pk).aggregate(total=Sum("coins"))["total"] or 0


def missing_rows(stream_id: int, meta: StreamMeta, seen: set) -> list[LiveEvent]:
    """The stream's recent events (per `meta`) whose (source, id) is not in `seen`."""
    stream = LiveStream(pk=stream_id, creator_id=meta.creator_id)
    events = []
    for letter, ids in meta.recent.items():
        missing = [row_id for row_id in ids if (letter, row_id) not in seen]
        if missing:
            events += _sources[letter].only(stream, missing)
    return events


def replay(stream_id: int, positions: dict[str, int]) -> list[LiveEvent] | None:
    """The events after `positions` (a parsed cursor), each source's oldest first; None if there are more
    than REPLAY_LIMIT of a source.

    A source the cursor does not name is not replayed (the page loaded before it existed).
    """
    limit = REPLAY_LIMIT
    stream = _load_stream(stream_id)
    if stream is None:
        return []
    events = []
    for letter, after_id in positions.items():
        source = _sources.get(letter)
        if source is None:
            continue
        found = source.after(stream, after_id, limit + 1)
        if len(found) > limit:
            return None
        events += found
    return events


def stream_event(meta: StreamMeta) -> LiveEvent:
    return LiveEvent(stream_id=meta.stream_id, type=STREAM, data=dumps(meta.stream_payload()))


# --- Pages ----------------------------------------------------------------------------------------


def leaderboard_payload(stream_id: int) -> list[dict]:
    """The stream's top gifters as the `leaderboard` event carries them (anonymous rows named by nobody)."""
    return [
        {"rank": entry.rank, "name": entry.name, "coins": entry.coins, "anonymous": entry.is_anonymous}
        for entry in selectors.leaderboard(LiveStream(pk=stream_id))
    ]


def page_cursor(gift_ids: Iterable[int], chat_ids: Iterable[int] = ()) -> str:
    """The `after=` a page rendered with these gifts and chat messages gives its event stream, so nothing slips
    in between."""
    return cursor_format({GIFT_SOURCE: max(gift_ids, default=0), CHAT_SOURCE: max(chat_ids, default=0)})


def poll_document(stream_id: int, *, viewers: int) -> dict | None:
    """Everything a page without an event stream needs, the same for every viewer (None: no such stream)."""
    stream = _load_stream(stream_id)
    if stream is None:
        return None
    gifts = [gift_event_payload(event) for event in _gift_rows().filter(stream=stream)[:POLL_GIFTS]]
    chat = recent_chat(stream.pk, POLL_CHAT)
    meta = StreamMeta.of(stream, coins=_stream_coins(stream))
    return {
        "stream": meta.stream_payload(),
        "cursor": page_cursor((gift["id"] for gift in gifts), (message["id"] for message in chat)),
        "gifts": gifts,
        "chat": chat,
        "goal": meta.goal_payload() if stream.goal_coins else None,
        "viewers": viewers,
        "leaderboard": leaderboard_payload(stream.pk),
    }


def poll_document_json(stream_id: int) -> bytes | None:
    """`poll_document` as the JSON the poll address answers with, its viewer count included."""
    document = poll_document(stream_id, viewers=presence.viewer_count(stream_id))
    return None if document is None else dumps(document).encode()
