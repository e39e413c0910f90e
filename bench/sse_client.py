"""Thousands of Server-Sent Events viewers in one asyncio process, for `make bench-live` (`bench.live`).

Each viewer is a raw socket speaking just enough HTTP/1.1 to open the stream; it parses no more than it
must: per gift frame, the event id and the commit timestamp (latency = receipt time - commit time, one
clock, one machine). No Django here, so it starts fast and stays small.

Driven by `bench.live` over stdin/stdout, one JSON object per line: it prints {"connected": n, ...}
once its viewers are connected, and {"report": {...}} when it reads "report" on stdin, then exits.
"""

import argparse
import asyncio
import json
import re
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import uvloop

GIFT = re.compile(rb'event: gift\ndata: \{"id":(\d+),.*?"committed_at":([\d.]+)\}')
VIEWERS = re.compile(rb'event: viewers\ndata: \{"count":(\d+)\}')
CONNECT_BATCH = 250
HISTOGRAM_MS = 60_000


class Totals:
    def __init__(self) -> None:
        self.receipts: Counter = Counter()  # gift event id -> viewers that received it
        self.histogram = [0] * (HISTOGRAM_MS + 1)  # latency in whole ms -> deliveries
        self.out_of_order = 0  # a gift id at or below the viewer's previous one: repeated or late
        self.open = 0
        self.lost = 0
        self.refused = 0
        self.viewer_count = 0
        self.bytes = 0


class Viewer(asyncio.Protocol):
    __slots__ = ("last_id", "request", "status_ok", "tail", "totals", "transport")

    def __init__(self, request: bytes, totals: Totals) -> None:
        self.request = request
        self.totals = totals
        self.tail = b""
        self.last_id = 0
        self.status_ok: bool | None = None  # None until the status line arrives
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport, so no isinstance check).
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        totals = self.totals
        totals.bytes += len(data)
        if self.status_ok is None:
            self.status_ok = data.startswith(b"HTTP/1.1 200")
            if self.status_ok:
                totals.open += 1
            else:
                totals.refused += 1
                if self.transport is not None:
                    self.transport.close()
                return
        buffer = self.tail + data if self.tail else data
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self.tail = buffer
            return
        self.tail = buffer[end + 2 :]
        now_ms = time.time() * 1000
        histogram = totals.histogram
        for match in GIFT.finditer(buffer, 0, end + 2):
            event_id = int(match[1])
            totals.receipts[event_id] += 1
            if event_id <= self.last_id:
                totals.out_of_order += 1
            self.last_id = max(self.last_id, event_id)
            histogram[min(HISTOGRAM_MS, max(0, int(now_ms - float(match[2]))))] += 1
        if b"event: viewers" in buffer:
            for match in VIEWERS.finditer(buffer, 0, end + 2):
                totals.viewer_count = int(match[1])

    def connection_lost(self, exc: Exception | None) -> None:
        if self.status_ok:
            self.totals.open -= 1
            self.totals.lost += 1


async def connect_all(args: argparse.Namespace, totals: Totals) -> list[Viewer]:
    loop = asyncio.get_running_loop()
    tokens = Path(args.tokens).read_text().split() if args.tokens else []
    viewers = []

    async def one(index: int) -> None:
        query = f"?v={tokens[index]}" if index < len(tokens) else ""
        request = f"GET {args.path}{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
        for attempt in range(5):
            try:
                _transport, viewer = await loop.create_connection(lambda: Viewer(request, totals), args.host, args.port)
                viewers.append(viewer)
                return
            except OSError:
                await asyncio.sleep(0.2 * (attempt + 1))

    for start in range(0, args.viewers, CONNECT_BATCH):
        await asyncio.gather(*(one(index) for index in range(start, min(args.viewers, start + CONNECT_BATCH))))
    return viewers


def report(totals: Totals) -> dict[str, Any]:
    return {
        "receipts": {str(event_id): count for event_id, count in totals.receipts.items()},
        "latency_histogram_ms": {str(ms): count for ms, count in enumerate(totals.histogram) if count},
        "out_of_order": totals.out_of_order,
        "open": totals.open,
        "lost": totals.lost,
        "refused": totals.refused,
        "viewer_count_seen": totals.viewer_count,
        "bytes": totals.bytes,
        "cpu_seconds": round(time.process_time(), 2),
    }


async def main(args: argparse.Namespace) -> None:
    totals = Totals()
    viewers = await connect_all(args, totals)
    deadline = time.monotonic() + 30
    while totals.open + totals.refused < len(viewers) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    print(json.dumps({"connected": totals.open, "sockets": len(viewers), "refused": totals.refused}), flush=True)
    loop = asyncio.get_running_loop()
    command = asyncio.Event()
    loop.add_reader(sys.stdin.fileno(), command.set)
    await command.wait()
    sys.stdin.readline()
    print(json.dumps({"report": report(totals)}), flush=True)
    for viewer in viewers:
        if viewer.transport is not None:
            viewer.transport.close()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--viewers", type=int, required=True)
    parser.add_argument("--tokens", help="A file of viewer tokens, one per line (each viewer counts once).")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    uvloop.run(main(args))


if __name__ == "__main__":
    run()
