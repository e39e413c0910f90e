"""The live hub: one per web process, between the bus and every event stream the process holds open.

No open stream holds a database connection or a thread. The hub keeps, per stream it serves, the
stream's state (live or ended, goal progress, viewers) and the open connections, and:

- hears every event once on the process's one bus subscription (`gifting.live.bus`);
- gathers the events of each stream for FLUSH_TICK_SECONDS, puts them in id order (commits can finish
  out of id order), frames them as Server-Sent Events once, and writes the same bytes to every
  connection of the stream — one write per connection per flush, however many events it holds;
- spaces flushes so writing takes at most FLUSH_DUTY of the loop's time: under load, events batch up
  instead of queueing behind each other;
- never waits for a slow client: a write the socket cannot take at once is finished by a task of its
  own while that client's later events collect behind it; past BACKLOG_LIMIT_BYTES its stream is
  ended, and its browser resumes from the database with Last-Event-ID;
- touches the database only per stream, never per viewer, and on a worker thread that hands the
  connection back at once: to load a stream's state when its first viewer arrives, to rebuild its
  leaderboard after gifts, and to catch up whatever the bus lost (after a reconnect, and every
  REFRESH_SECONDS comparing the stream's recent rows with what it delivered).
"""

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio
from django.conf import settings
from django.db import connections

from coinsite.lib.asgi_types import Message, Send
from gifting import presence
from gifting.live import bus, replay
from gifting.live.events import (
    GIFT,
    GOAL,
    LEADERBOARD,
    RESET,
    STREAM,
    VIEWERS,
    LiveEvent,
    cursor_format,
    dumps,
    frame,
)

logger = logging.getLogger(__name__)

RowKey = tuple[str, int]  # (source, id) of a row-backed event
Frames = list[tuple[RowKey | None, bytes]]  # framed events, each with its row key (None: a state event)

FLUSH_TICK_SECONDS = 0.05
FLUSH_DUTY = 0.5
HOUSEKEEPING_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
LEADERBOARD_SECONDS = 5.0
REFRESH_SECONDS = 30.0
CHANNEL_IDLE_SECONDS = 60.0
MISSING_STREAM_SECONDS = 5.0
READY_WAIT_SECONDS = 2.0
LIFETIME_SECONDS = (600.0, 900.0)  # then the browser reconnects (maybe to another process) and resumes
BACKLOG_LIMIT_BYTES = 256 * 1024
SEEN_LIMIT = 16_384  # above replay.RECENT_LIMIT: a catch-up must never take a forgotten event for a missed one
POLL_FRESH_SECONDS = 1.0  # a poll document is rebuilt at most this often, however many events arrive
POLL_MAX_AGE_SECONDS = 5.0  # and at least this often while polled (viewers and leaderboard move too)
RETRY_MS = 3_000

KEEPALIVE = b": keepalive\n\n"
_FINAL = {"type": "http.response.body", "body": b"", "more_body": False}


async def with_database[T](function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `function` on a worker thread and hand its database connection back (to the pool) before returning."""

    def run() -> T:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return await asyncio.to_thread(run)


def _chunk(body: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(body), body)


def _raw_transport(send: Send) -> asyncio.WriteTransport | None:
    """uvicorn's socket under its chunked HTTP/1.1 response, or None (any other server: plain ASGI sends).

    Writing each flush's pre-framed chunk to the socket straight, instead of through send() once per
    connection, measured about a third less CPU per delivery here (~10.5 µs against ~14, most of the
    rest being the write system call). It bypasses only the body writes: the response's start and end
    still go through send(), and the socket's own buffer stands in for send()'s flow control.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if getattr(cycle, "chunked_encoding", None) is not True or not hasattr(transport, "get_write_buffer_size"):
        return None
    return transport


class _Resume:
    """Awaitable that finishes a coroutine we started by hand and that stopped on a future (a full socket)."""

    __slots__ = ("coroutine", "waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self.coroutine = coroutine
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        value = self.waiting_on
        while True:
            try:
                yield value
            except BaseException as error:  # e.g. cancellation: hand it to the coroutine
                try:
                    value = self.coroutine.throw(error)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                value = self.coroutine.send(None)
            except StopIteration as stop:
                return stop.value


class Connection:
    """One open event stream: its ASGI `send`, who is watching, and what waits behind a full socket."""

    __slots__ = (
        "backlog",
        "backlog_bytes",
        "blocked",
        "buffered",
        "closed",
        "deadline",
        "ending",
        "send",
        "skip",
        "transport",
        "viewer",
    )

    def __init__(self, send: Send, *, viewer: str | None, deadline: float) -> None:
        self.send = send
        self.viewer = viewer
        self.deadline = deadline
        self.blocked: asyncio.Future | None = None
        self.backlog: list[bytes] = []
        self.backlog_bytes = 0
        self.buffered: Frames | None = []  # while joining: (row key, frame)
        self.skip: set[RowKey] = set()  # rows its replay read from the database before the hub had them
        # The socket itself, once streaming under uvicorn (see `_raw_transport`).
        self.transport: asyncio.WriteTransport | None = None
        self.closed = False
        self.ending = False

    def write(self, message: Message, chunk: bytes | None = None) -> None:
        """Write at once if the socket takes it, else queue behind the pending write; never waits.

        `chunk` is the message's body framed as an HTTP/1.1 chunk, written straight to the socket
        when there is one; a client more than BACKLOG_LIMIT_BYTES behind is cut off there (its
        browser resumes from the database).
        """
        if self.closed:
            return
        transport = self.transport
        if transport is not None and self.blocked is None:
            if transport.is_closing():
                self.closed = True
            elif transport.get_write_buffer_size() > BACKLOG_LIMIT_BYTES:
                transport.abort()
                self.closed = True
            else:
                transport.write(chunk or _chunk(message["body"]))
            return
        if self.blocked is not None:
            self.backlog.append(message["body"])
            self.backlog_bytes += len(message["body"])
            if self.backlog_bytes > BACKLOG_LIMIT_BYTES:
                self.backlog.clear()
                self.end()  # too slow to follow: it resumes from the database instead
            return
        self._drive(message)

    def end(self) -> None:
        """Finish the response (after anything still queued); the client's EventSource will reconnect."""
        if self.closed:
            return
        self.closed = True
        if self.blocked is not None:
            self.ending = True
        else:
            self._drive(_FINAL)

    def _drive(self, message: Message) -> None:
        # uvicorn's send() finishes without suspending unless the socket's buffer is full; run it by
        # hand so writing to thousands of connections costs no task, and no await, each.
        coroutine = cast(Coroutine[Any, Any, None], self.send(message))
        try:
            waiting_on = coroutine.send(None)
        except StopIteration:
            return
        except Exception as error:  # the client is gone mid-write
            logger.debug("Live stream write failed: %s", error)
            self.closed = True
            return
        self.blocked = asyncio.ensure_future(self._finish(coroutine, waiting_on))

    async def _finish(self, coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        try:
            await _Resume(coroutine, waiting_on)
            while self.backlog:
                body = b"".join(self.backlog)
                self.backlog.clear()
                self.backlog_bytes = 0
                await self.send({"type": "http.response.body", "body": body, "more_body": True})
            if self.ending:
                await self.send(_FINAL)
        except Exception as error:
            logger.debug("Live stream write failed: %s", error)
            self.closed = True
        finally:
            self.blocked = None


@dataclass
class _PollDocument:
    body: bytes | None
    built: float
    stale: bool = False


@dataclass(eq=False)  # hashed by identity: the hub keeps a set of channels with events to flush
class Channel:
    """A stream this process serves: its state, where each source stands, and its open connections."""

    hub: "Hub"
    meta: replay.StreamMeta
    cursor: dict[str, int] = field(default_factory=dict)
    connections: dict[Connection, None] = field(default_factory=dict)  # in join order
    joining: set[Connection] = field(default_factory=set)
    viewers: Counter[str] = field(default_factory=Counter)
    viewer_count: int = 0
    pending: list[LiveEvent] = field(default_factory=list)
    seen: set[RowKey] = field(default_factory=set)
    seen_order: deque[RowKey] = field(default_factory=deque)
    refreshing: bool = False
    leaderboard_frame: bytes = b""
    leaderboard_due: bool = False
    last_write: float = field(default_factory=time.monotonic)
    empty_since: float | None = None
    _state: bytes | None = None
    _snapshot: tuple[Connection, ...] | None = None

    def __post_init__(self) -> None:
        self.cursor = dict(self.meta.cursor)
        for source, ids in self.meta.recent.items():
            for row_id in reversed(ids):  # oldest first, so the newest are forgotten last
                self._remember((source, row_id))

    @property
    def stream_id(self) -> int:
        return self.meta.stream_id

    # --- joining and leaving -------------------------------------------------------------------

    def join_started(self, connection: Connection) -> None:
        """Hold the connection's live events aside while its replay is read and its headers go out."""
        self.joining.add(connection)
        self.empty_since = None

    def join_finished(self, connection: Connection, opening: bytes, replayed: set[RowKey]) -> None:
        """Write `opening` plus the events that arrived meanwhile (less those replayed), then stream live."""
        self.joining.discard(connection)
        held = [body for key, body in connection.buffered or () if key is None or key not in replayed]
        connection.buffered = None
        connection.skip = {key for key in replayed if key not in self.seen}
        connection.write({"type": "http.response.body", "body": opening + b"".join(held), "more_body": True})
        if connection.closed:
            return
        connection.transport = _raw_transport(connection.send)
        self.connections[connection] = None
        self._snapshot = None
        if connection.viewer is not None and self.meta.is_live:
            self.viewers[connection.viewer] += 1
            self.hub.viewers_moved = True

    def leave(self, connection: Connection) -> None:
        self.joining.discard(connection)
        if connection in self.connections:
            del self.connections[connection]
            self._snapshot = None
            if connection.viewer is not None and self.meta.is_live:
                self.viewers[connection.viewer] -= 1
                if self.viewers[connection.viewer] <= 0:
                    del self.viewers[connection.viewer]
                    self.hub.viewers_moved = True
        if not self.connections and not self.joining:
            self.empty_since = time.monotonic()

    def opening(self, positions: dict[str, int], replayed: list[LiveEvent]) -> bytes:
        """What a (re)connecting stream gets first: the retry delay, replayed rows, then the current state."""
        own = {**self.cursor, **positions}  # a source the client's cursor does not name starts from now
        parts = [f"retry: {RETRY_MS}\n\n".encode()]
        for event in replayed:
            own[event.source] = max(own.get(event.source, 0), event.event_id)
            parts.append(frame(event.type, event.data, cursor_format(own)))
        parts.append(frame(STREAM, dumps(self.meta.stream_payload()), cursor_format(own)))
        parts.append(self.state_frames())
        return b"".join(parts)

    def reset_opening(self) -> bytes:
        """For a resume point too old to replay: start from now and tell the page to reload its state once."""
        return f"retry: {RETRY_MS}\n\n".encode() + frame(RESET, "{}", cursor_format(self.cursor)) + self.state_frames()

    def state_frames(self) -> bytes:
        if self._state is None:
            parts = [frame(VIEWERS, dumps({"count": self.viewer_count}))]
            if self.meta.goal_coins:
                parts.append(frame(GOAL, dumps(self.meta.goal_payload())))
            parts.append(self.leaderboard_frame)
            self._state = b"".join(parts)
        return self._state

    # --- events -----------------------------------------------------------------------------------

    def _remember(self, key: RowKey) -> None:
        self.seen.add(key)
        self.seen_order.append(key)
        if len(self.seen_order) > SEEN_LIMIT:
            self.seen.discard(self.seen_order.popleft())

    def flush(self) -> None:
        """Frame the pending events once, in id order per source, and write them to every connection."""
        events, self.pending = self.pending, []
        frames: Frames = []
        coins_before = self.meta.coins
        for event in sorted((event for event in events if event.source), key=lambda e: (e.source, e.event_id)):
            frames += self._row_frames(event)
        if self.meta.coins != coins_before and self.meta.goal_coins:
            self._state = None
            frames.append((None, frame(GOAL, dumps(self.meta.goal_payload()))))
        for event in events:
            if not event.source:
                frames += self._state_frames(event)
        if frames:
            self.broadcast(frames)
        if not self.meta.is_live:
            self.end_all()

    def _row_frames(self, event: LiveEvent) -> Frames:
        key = (event.source, event.event_id)
        if key in self.seen:
            return []  # delivered already (a catch-up and the bus both carried it)
        self._remember(key)
        if event.event_id > self.cursor.get(event.source, 0):
            self.cursor[event.source] = event.event_id
        if event.type == GIFT:
            self.meta.coins += json.loads(event.data)["coins"]
            self.leaderboard_due = True
        return [(key, frame(event.type, event.data, cursor_format(self.cursor)))]

    def _state_frames(self, event: LiveEvent) -> Frames:
        data = json.loads(event.data)
        if event.type == STREAM:
            if data.get("state") == "ended" and self.meta.is_live:
                self._ended(data.get("ended_at"))
                return [(None, frame(STREAM, dumps(self.meta.stream_payload()), cursor_format(self.cursor)))]
            return []
        if event.type == GOAL:
            self.meta.goal_coins = data.get("goal_coins")
            self.meta.goal_label = data.get("label") or ""
            self._state = None
            return [(None, frame(GOAL, dumps(self.meta.goal_payload())))]
        return [(None, frame(event.type, event.data))]

    def _ended(self, ended_at: str | None) -> None:
        self.meta.is_live = False
        self.meta.ended_at = ended_at
        self.viewers.clear()
        self._state = None

    def broadcast(self, frames: Frames) -> None:
        """Write the frames as one chunk to every live connection; joining ones keep them per row for filtering."""
        body = b"".join(body for _key, body in frames)
        message, chunk = {"type": "http.response.body", "body": body, "more_body": True}, _chunk(body)
        if self._snapshot is None:
            self._snapshot = tuple(self.connections)
        for connection in self._snapshot:
            if connection.skip:
                _write_skipping(connection, frames)
            else:
                connection.write(message, chunk)
        for connection in self.joining:
            if connection.buffered is not None:
                connection.buffered.extend(frames)
        self.last_write = time.monotonic()

    def end_all(self) -> None:
        """Finish every streaming connection. A joining one has sent no headers yet: ending it now would
        drop its replay (what a resuming client came for); `gifting.live.asgi.events` ends it once it has
        written its opening, as it finds the stream ended."""
        for connection in list(self.connections):
            connection.end()

    def viewers_changed(self, count: int) -> None:
        if count != self.viewer_count:
            self.viewer_count = count
            self._state = None
            self.broadcast([(None, frame(VIEWERS, dumps({"count": count})))])

    def leaderboard_changed(self, entries: list[dict]) -> None:
        self.leaderboard_frame = frame(LEADERBOARD, dumps({"entries": entries}))
        self._state = None
        self.broadcast([(None, self.leaderboard_frame)])

    def refreshed(self, meta: replay.StreamMeta, missing: list[LiveEvent]) -> None:
        """Take a fresh read of the stream: its state, and rows the bus never brought (delivered now, counted once)."""
        self.meta.goal_coins, self.meta.goal_label = meta.goal_coins, meta.goal_label
        self._state = None
        missing = [event for event in missing if (event.source, event.event_id) not in self.seen]
        if missing:
            logger.info("Live stream %s: %s event(s) caught up from the database", self.stream_id, len(missing))
            self.pending = missing + self.pending
            self.hub.mark_dirty(self)
        if not meta.is_live and self.meta.is_live:
            self._ended(meta.ended_at)
            self.broadcast([(None, frame(STREAM, dumps(self.meta.stream_payload()), cursor_format(self.cursor)))])
            self.end_all()


def _write_skipping(connection: Connection, frames: Frames) -> None:
    """The frames less the rows this connection's replay already gave it (the hub got them after the database)."""
    kept = [body for key, body in frames if key is None or key not in connection.skip]
    connection.skip.difference_update(key for key, _body in frames)
    if kept:
        connection.write({"type": "http.response.body", "body": b"".join(kept), "more_body": True})


class Hub:
    """The per-process (per event loop) hub; `hub()` returns it."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.channels: dict[int, Channel] = {}
        self.loading: dict[int, asyncio.Task[Channel | None]] = {}
        self.early: dict[int, list[LiveEvent]] = {}
        self.missing: dict[int, float] = {}
        self.dirty: set[Channel] = set()
        self.wake = asyncio.Event()
        self.ready = asyncio.Event()
        self.subscriptions = 0
        self.viewers_moved = False  # someone arrived or left: share the counts at the next second, not in 5
        self.polls: dict[int, _PollDocument] = {}
        self.poll_builds: dict[int, asyncio.Task[bytes | None]] = {}
        self.redis = (
            redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
            if settings.REDIS_URL
            else None
        )
        self.tasks = [
            self.loop.create_task(self._listen(), name="live-hub-bus"),
            self.loop.create_task(self._flush_loop(), name="live-hub-flush"),
            self.loop.create_task(self._housekeeping(), name="live-hub-housekeeping"),
        ]

    # --- streams --------------------------------------------------------------------------------------

    async def channel(self, stream_id: int) -> Channel | None:
        """The stream's channel, loading its state on first use; None if there is no such stream."""
        found = self.channels.get(stream_id)
        if found is not None:
            return found
        if self.missing.get(stream_id, 0) > time.monotonic():
            return None
        return await self._shared(self.loading, stream_id, self._load)

    def _shared[T](
        self, tasks: dict[int, asyncio.Task[T]], stream_id: int, start: Callable[[int], Coroutine[Any, Any, T]]
    ) -> asyncio.Future[T]:
        """One task per stream: callers arriving while it runs wait on the same one (it removes itself)."""
        task = tasks.get(stream_id)
        if task is None:
            task = tasks[stream_id] = self.loop.create_task(start(stream_id))
        return asyncio.shield(task)

    async def _load(self, stream_id: int) -> Channel | None:
        try:
            with contextlib.suppress(TimeoutError):  # the bus is down: catch-up covers it when it is back
                await asyncio.wait_for(self.ready.wait(), READY_WAIT_SECONDS)
            self.early[stream_id] = []
            meta = await with_database(replay.stream_meta, stream_id)
            if meta is None:
                self.missing[stream_id] = time.monotonic() + MISSING_STREAM_SECONDS
                return None
            channel = self.channels[stream_id] = Channel(hub=self, meta=meta)
            channel.pending = self.early.get(stream_id, [])
            if channel.pending:
                self.mark_dirty(channel)
            return channel
        finally:
            self.early.pop(stream_id, None)
            self.loading.pop(stream_id, None)

    def mark_dirty(self, channel: Channel) -> None:
        self.dirty.add(channel)
        self.wake.set()

    def receive(self, message: str | bytes) -> None:
        """One message from the bus."""
        try:
            event = LiveEvent.from_wire(message)
        except ValueError as error:
            logger.warning("Ignoring a malformed live event: %s", error)
            return
        poll = self.polls.get(event.stream_id)
        if poll is not None:
            poll.stale = True
        channel = self.channels.get(event.stream_id)
        if channel is not None:
            channel.pending.append(event)
            self.mark_dirty(channel)
        elif event.stream_id in self.early:
            self.early[event.stream_id].append(event)

    # --- the bus --------------------------------------------------------------------------------------

    async def _listen(self) -> None:
        delay = 0.1
        lost_at = None
        while True:
            try:
                async with bus.subscribe() as messages:
                    async for message in messages:
                        if message is bus.SUBSCRIBED:
                            self._subscribed(lost_at)
                            delay, lost_at = 0.1, None
                        else:
                            self.receive(message)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("Live bus subscription lost (%s); reconnecting in %.1f s", error, delay)
            self.ready.clear()
            lost_at = lost_at or time.monotonic()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _subscribed(self, lost_at: float | None) -> None:
        """(Re)subscribed: catch up on what the bus lost meanwhile, or have pages reload if that was too long."""
        self.subscriptions += 1
        self.ready.set()
        if self.subscriptions == 1:
            return
        if lost_at is not None and time.monotonic() - lost_at > replay.RECENT_WINDOW.total_seconds():
            for channel in self.channels.values():
                channel.broadcast([(None, frame(RESET, "{}", cursor_format(channel.cursor)))])
        self.loop.create_task(self._catch_up_all())

    async def _catch_up_all(self) -> None:
        for channel in list(self.channels.values()):
            await self.refresh(channel)

    async def refresh(self, channel: Channel) -> None:
        """Re-read the stream and deliver its recent rows that the bus did not bring."""
        if channel.refreshing:
            return
        channel.refreshing = True
        try:
            meta, missing = await with_database(_read_missing, channel.stream_id, set(channel.seen))
            if meta is not None:
                channel.refreshed(meta, missing)
        except Exception as error:
            logger.warning("Live stream %s could not be refreshed: %s", channel.stream_id, error)
        finally:
            channel.refreshing = False

    # --- flushing -------------------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        last_started = last_cost = 0.0
        while True:
            await self.wake.wait()
            woke = time.monotonic()
            start_at = max(woke + FLUSH_TICK_SECONDS, last_started + last_cost / FLUSH_DUTY)
            await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            self.wake.clear()
            last_started = time.monotonic()
            cpu_started = time.thread_time()  # CPU, not wall time: waiting for a busy machine's cores is no cost
            dirty, self.dirty = self.dirty, set()
            for channel in dirty:
                try:
                    channel.flush()
                except Exception:
                    logger.exception("Live stream %s: flushing events failed", channel.stream_id)
            last_cost = time.thread_time() - cpu_started

    # --- housekeeping -----------------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            ticks += 1
            for step, every in (
                (self._keep_alive, 1),
                (self._sync_viewers, 1 if self.viewers_moved else presence.VIEWER_SYNC_SECONDS),
                (self._leaderboards, LEADERBOARD_SECONDS),
                (self._refresh_some, 1),
            ):
                if ticks % max(1, round(every / HOUSEKEEPING_SECONDS)) == 0:
                    try:
                        await step()
                    except Exception:
                        logger.exception("Live hub housekeeping step %s failed", step.__name__)

    async def _keep_alive(self) -> None:
        now = time.monotonic()
        wall = time.time()
        message, chunk = {"type": "http.response.body", "body": KEEPALIVE, "more_body": True}, _chunk(KEEPALIVE)
        for stream_id, channel in list(self.channels.items()):
            for connection in [c for c in channel.connections if c.deadline <= wall]:
                connection.end()
            if now - channel.last_write >= KEEPALIVE_SECONDS:
                for connection in tuple(channel.connections):
                    connection.write(message, chunk)
                channel.last_write = now
            if channel.empty_since is not None and now - channel.empty_since > CHANNEL_IDLE_SECONDS:
                del self.channels[stream_id]
        for stream_id in [key for key, poll in self.polls.items() if now - poll.built > 60]:
            del self.polls[stream_id]
        self.missing = {key: until for key, until in self.missing.items() if until > now}

    async def _sync_viewers(self) -> None:
        self.viewers_moved = False
        channels = [channel for channel in self.channels.values() if channel.meta.is_live]
        local = {channel.stream_id: len(channel.viewers) for channel in channels}
        presence.local_counts_set(local)
        counts = local
        if self.redis is not None and channels:
            try:
                counts = await self._shared_counts(self.redis, channels)
            except redis.RedisError as error:
                logger.warning("Viewer counts not shared through Redis (%s): counting this process only", error)
        for channel in channels:
            channel.viewers_changed(counts.get(channel.stream_id, 0))

    @staticmethod
    async def _shared_counts(client: redis.asyncio.Redis, channels: list[Channel]) -> dict[int, int]:
        """Add this process's viewers to each stream's set in Redis and read back everyone's."""
        now = time.time()
        pipeline = client.pipeline(transaction=False)
        for channel in channels:
            key = presence.redis_key(channel.stream_id)
            if channel.viewers:
                pipeline.zadd(key, dict.fromkeys(channel.viewers, now + presence.VIEWER_TTL_SECONDS), gt=True)
            pipeline.zremrangebyscore(key, "-inf", now)
            pipeline.expire(key, presence.VIEWER_TTL_SECONDS * 3)
            pipeline.zcard(key)
        results = await pipeline.execute()
        counts, position = {}, 0
        for channel in channels:
            position += 4 if channel.viewers else 3
            counts[channel.stream_id] = int(results[position - 1])
        return counts

    async def _leaderboards(self) -> None:
        for channel in [channel for channel in self.channels.values() if channel.leaderboard_due]:
            channel.leaderboard_due = False
            entries = await with_database(replay.leaderboard_payload, channel.stream_id)
            channel.leaderboard_changed(entries)

    async def _refresh_some(self) -> None:
        # Each stream every REFRESH_SECONDS, spread over the seconds so they do not all query at once.
        second = int(time.monotonic())
        period = max(1, round(REFRESH_SECONDS))
        for stream_id, channel in list(self.channels.items()):
            if stream_id % period == second % period and channel.connections:
                await self.refresh(channel)

    # --- poll documents ---------------------------------------------------------------------------------

    async def poll_document(self, stream_id: int) -> bytes | None:
        """The stream's poll document as JSON bytes, rebuilt at most every POLL_FRESH_SECONDS (None: no stream)."""
        now = time.monotonic()
        cached = self.polls.get(stream_id)
        if cached is not None and (
            now - cached.built < POLL_FRESH_SECONDS or (not cached.stale and now - cached.built < POLL_MAX_AGE_SECONDS)
        ):
            return cached.body
        return await self._shared(self.poll_builds, stream_id, self._build_poll)

    async def _build_poll(self, stream_id: int) -> bytes | None:
        try:
            document = await with_database(replay.poll_document_json, stream_id)
            self.polls[stream_id] = _PollDocument(body=document, built=time.monotonic())
            return document
        finally:
            self.poll_builds.pop(stream_id, None)

    # --- shutting down ------------------------------------------------------------------------------------

    async def close(self) -> None:
        for channel in self.channels.values():
            channel.end_all()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()


def _read_missing(stream_id: int, seen: set[RowKey]) -> tuple[replay.StreamMeta | None, list[LiveEvent]]:
    meta = replay.stream_meta(stream_id, with_coins=False)
    if meta is None:
        return None, []
    return meta, replay.missing_rows(stream_id, meta, seen)


def stream_lifetime() -> float:
    """When a new event stream should end (epoch seconds): spread so reconnects do not come in waves."""
    return time.time() + random.uniform(*LIFETIME_SECONDS)


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """This event loop's hub, started on first use."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        for stale in [other for other in _hubs if other.is_closed()]:
            del _hubs[stale]
        found = _hubs[loop] = Hub()
    return found


async def hub_close() -> None:
    """Close this event loop's hub (ASGI lifespan shutdown, tests)."""
    found = _hubs.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()
