"""Live delivery: gifts, chat and stream changes pushed to every viewer of a stream (docs/live.md).

- `publish.live_publish(...)`: what other code calls, in or out of a transaction, to send an event to a
  stream's viewers once it commits (gifts go through `publish.live_gift_sent`).
- `replay.register_source(...)`: makes a kind of row-backed event resumable with Last-Event-ID.
- `asgi.live_application(...)`: serves the event streams and poll documents in front of Django.
- `hub`: each web process's fan-out to its open event streams; `bus`: its subscription.
"""

from gifting.live.publish import live_publish

__all__ = ["live_publish"]
