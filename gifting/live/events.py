"""Live events: what is published, how it travels between processes, and how it is framed for the browser.

An event is encoded to JSON once, by the process that publishes it; every web process frames it
once as Server-Sent Events bytes and writes those same bytes to all of its open streams. See
docs/live.md for the event types and their payloads.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime

from coinsite.lib.static_urls import static_url
from gifting.selectors import UNNAMED

# Event types. Row-backed ones carry a cursor (`source` + row id) and are replayed from the database on
# resume; the others describe current state and are re-sent whole to every (re)connecting stream.
GIFT = "gift"
CHAT = "chat"
CHAT_DELETED = "chat_deleted"  # {"id": 77}: a moderator removed chat message 77
GOAL = "goal"
STREAM = "stream"
VIEWERS = "viewers"
LEADERBOARD = "leaderboard"
RESET = "reset"  # the resume point is too old to replay: fetch the poll document once instead

GIFT_SOURCE = "g"
CHAT_SOURCE = "c"

_CURSOR_PART = re.compile(r"([a-z])(\d{1,18})")


# One encoder for the process: `json.dumps` with options builds a new JSONEncoder on every call (10 µs a
# payload with it, 12.6 without, measured here; the publisher encodes every gift).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(data: dict) -> str:
    """Compact JSON (a payload is written to thousands of sockets); never a raw newline, so one SSE data line."""
    return _ENCODER.encode(data)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One published event: `data` is its JSON payload, encoded once by the publisher.

    `source` and `event_id` name the database row behind a replayable event ("g", 123 for gift event
    123); state events leave them empty.
    """

    stream_id: int
    type: str
    data: str
    source: str = ""
    event_id: int = 0

    def wire(self) -> str:
        """The message on Redis pub/sub or in a NOTIFY payload: a short header, then the JSON untouched."""
        return f"{self.stream_id}|{self.type}|{self.source}|{self.event_id}|{self.data}"

    @classmethod
    def from_wire(cls, message: str | bytes) -> "LiveEvent":
        """Parse `wire()`; raises ValueError on anything else."""
        if isinstance(message, bytes):
            message = message.decode()
        stream_id, event_type, source, event_id, data = message.split("|", 4)
        if not event_type.isidentifier() or (source and not _CURSOR_PART.fullmatch(f"{source}{event_id}")):
            raise ValueError(f"not a live event: {message[:80]!r}")
        return cls(stream_id=int(stream_id), type=event_type, data=data, source=source, event_id=int(event_id))


def frame(event_type: str, data: str, cursor: str = "") -> bytes:
    """One Server-Sent Events message; `cursor` becomes its `id:` (what the browser sends back as Last-Event-ID)."""
    head = f"id: {cursor}\n" if cursor else ""
    return f"{head}event: {event_type}\ndata: {data}\n\n".encode()


# --- Cursors ------------------------------------------------------------------------------------
# A cursor is the highest row id delivered per source, e.g. "g1042" (gifts) or later "g1042.c77"
# (gifts and chat). Resuming sends every row of each source with a higher id.


def cursor_parse(text: str | None) -> dict[str, int] | None:
    """The positions in a Last-Event-ID (or `after=`) value; None when it is missing or not ours."""
    if not text or len(text) > 200:
        return None
    positions = {}
    for part in text.strip().split("."):
        match = _CURSOR_PART.fullmatch(part)
        if match is None:
            return None
        positions[match[1]] = int(match[2])
    return positions


def cursor_format(positions: dict[str, int]) -> str:
    return ".".join(f"{source}{position}" for source, position in sorted(positions.items()))


# --- Payloads -----------------------------------------------------------------------------------


def gift_payload(
    *,
    event_id: int,
    stream_id: int,
    gift_id: int,
    gift_name: str,
    artwork: str,
    tier: str,
    quantity: int,
    coins: int,
    sender_name: str,
    anonymous: bool,
    created_at: datetime,
    message: str = "",
) -> dict:
    """A gift as every page renders it. An anonymous gift names nobody: no sender name and no sender id.
    `message` is the short text sent with it ("" for none), which pages insert as text.

    Coins only: each page values them in its viewer's currency. `committed_at` (ms since the epoch) is
    added when the gift commits (`gifting.live.publish`); replayed gifts carry their creation time there.
    """
    return {
        "id": event_id,
        "stream": stream_id,
        "gift": {"id": gift_id, "name": gift_name, "artwork": static_url(artwork), "tier": tier},
        "quantity": quantity,
        "coins": coins,
        "sender": None if anonymous else {"name": sender_name or UNNAMED},
        "anonymous": bool(anonymous),
        "message": message,
        "created_at": created_at.isoformat(),
    }


def chat_payload(
    *, message_id: int, stream_id: int, author_name: str, text: str, is_creator: bool, created_at: datetime
) -> dict:
    """A chat message as every page renders it: the author's display name only (no user id), the text as written
    (pages insert it as text, never as HTML), and whether the author is the stream's creator."""
    return {
        "id": message_id,
        "stream": stream_id,
        "author": {"name": author_name or UNNAMED, "creator": bool(is_creator)},
        "text": text,
        "created_at": created_at.isoformat(),
    }


def goal_payload(*, goal_coins: int | None, label: str, coins: int) -> dict:
    """Progress towards the stream's goal (`goal_coins` None: the goal was cleared)."""
    if not goal_coins:
        return {"goal_coins": None, "label": "", "coins": coins, "percent": 0, "reached": False}
    return {
        "goal_coins": goal_coins,
        "label": label,
        "coins": coins,
        "percent": min(100, coins * 100 // goal_coins),
        "reached": coins >= goal_coins,
    }


def epoch_ms(moment: datetime) -> float:
    return round(moment.timestamp() * 1000, 1)
