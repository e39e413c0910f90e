#!/usr/bin/env python3
"""A small Coinsite API client and webhook receiver, standard library only (Python 3.10+). docs/api.md explains it.

    # who am I, my coins, the gifts I can send, who is live
    python coinsite_client.py --url http://127.0.0.1:8000 --token cst_... me
    python coinsite_client.py --url ... --token ... wallet
    python coinsite_client.py --url ... --token ... gifts
    python coinsite_client.py --url ... --token ... streams
    # send a gift (retried safely: one Idempotency-Key for every attempt of this gift)
    python coinsite_client.py --url ... --token ... send-gift --stream 12 --gift 3 --quantity 2 [--confirm]
    # receive webhooks on http://127.0.0.1:8765/ and print each new event
    python coinsite_client.py listen --port 8765 --secret whsec_...

The token comes from Coinsite's account page (API tokens); the webhook secret from the studio (Webhooks).
"""

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_PREFIX = "/api/v1"
SIGNATURE_TOLERANCE_SECONDS = 300


class ApiProblem(Exception):
    """The API refused the request: `problem` is its RFC 9457 document (see `code`, `detail`)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        self.code = problem.get("code", "")
        super().__init__(f"{status} {self.code}: {problem.get('detail', '')}")


class CoinsiteClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 10, retries: int = 4) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None) -> Any:
        """One API call; retried on connection errors, 5xx and 429 (after Retry-After) with the same headers."""
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json", **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(  # noqa: S310
                self.base_url + API_PREFIX + path, data=data, headers=all_headers, method=method
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    return json.loads(response.read() or b"null")
            except urllib.error.HTTPError as error:
                problem = _json_or_empty(error.read())
                retryable = error.code == 429 or error.code >= 500
                if not retryable or attempt == self.retries:
                    raise ApiProblem(error.code, problem) from None
                time.sleep(int(error.headers.get("Retry-After") or 2**attempt))
            except OSError:
                if attempt == self.retries:
                    raise
                time.sleep(2**attempt)
        raise AssertionError("unreachable")

    def pages(self, path: str, limit: int = 50) -> Iterator[dict]:
        """Every item of a list operation, following `next_cursor`."""
        cursor = ""
        while True:
            separator = "&" if "?" in path else "?"
            page = self.request("GET", f"{path}{separator}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
            yield from page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    def me(self) -> dict:
        return self.request("GET", "/me")

    def wallet(self) -> dict:
        return self.request("GET", "/wallet")

    def gifts(self) -> list:
        return self.request("GET", "/gifts")

    def streams(self) -> list:
        return list(self.pages("/streams"))

    def send_gift(
        self,
        stream_id: int,
        gift_id: int,
        *,
        quantity: int = 1,
        anonymous: bool = False,
        confirm: bool = False,
        idempotency_key: str | None = None,
    ) -> dict:
        """Send a gift exactly once: every retry carries the same Idempotency-Key, so it is charged once."""
        key = idempotency_key or str(uuid.uuid4())
        body = {"gift_id": gift_id, "quantity": quantity, "anonymous": anonymous, "confirm": confirm}
        return self.request("POST", f"/streams/{stream_id}/gifts", body, headers={"Idempotency-Key": key})


def _json_or_empty(raw: bytes) -> dict:
    try:
        document = json.loads(raw)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


# --- Webhooks ---------------------------------------------------------------------------------------


def verify_signature(
    body: bytes,
    header: str,
    secrets: list[str],
    *,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """Whether `Coinsite-Signature` (t=<unix time>,v1=<hex>[,v1=<hex>]) signs `body` with one of `secrets`,
    and is recent. The signature is HMAC-SHA256 of "<t>.<body>" keyed with the endpoint's secret."""
    try:
        parts = [item.split("=", 1) for item in header.split(",")]
        timestamp = int(next(value for name, value in parts if name == "t"))
        signatures = [value for name, value in parts if name == "v1"]
    except (ValueError, StopIteration):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = [hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest() for secret in secrets]
    return any(hmac.compare_digest(mine, theirs) for mine in expected for theirs in signatures)


class WebhookReceiver:
    """A small HTTP server that accepts Coinsite webhooks: checks the signature, ignores event ids it has seen
    (deliveries can repeat), and calls `on_event(event)` once per event. Answers 2xx quickly, always."""

    def __init__(
        self, secrets: list[str], on_event: Callable[[dict], None], *, host: str = "127.0.0.1", port: int = 8765
    ) -> None:
        self.secrets = secrets
        self.on_event = on_event
        self.seen: set[str] = set()
        self.rejected = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not verify_signature(body, self.headers.get("Coinsite-Signature", ""), receiver.secrets):
                    with receiver._lock:
                        receiver.rejected += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                event = json.loads(body)
                with receiver._lock:
                    new = event["id"] not in receiver.seen
                    receiver.seen.add(event["id"])
                if new:
                    receiver.on_event(event)
                self.send_response(204)  # a replay of a seen event is answered 2xx too
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/"

    def start(self) -> "WebhookReceiver":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", default="")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("me", "wallet", "gifts", "streams"):
        commands.add_parser(name)
    send = commands.add_parser("send-gift")
    send.add_argument("--stream", type=int, required=True)
    send.add_argument("--gift", type=int, required=True)
    send.add_argument("--quantity", type=int, default=1)
    send.add_argument("--anonymous", action="store_true")
    send.add_argument("--confirm", action="store_true")
    listen = commands.add_parser("listen")
    listen.add_argument("--port", type=int, default=8765)
    listen.add_argument("--secret", action="append", required=True, help="repeat during a secret rotation")
    args = parser.parse_args(argv)
    if args.command == "listen":
        receiver = WebhookReceiver(args.secret, lambda event: print(json.dumps(event), flush=True), port=args.port)
        print(f"Listening on {receiver.url}", file=sys.stderr)
        receiver.server.serve_forever()
        return 0
    client = CoinsiteClient(args.url, args.token)
    try:
        if args.command == "send-gift":
            result = client.send_gift(
                args.stream, args.gift, quantity=args.quantity, anonymous=args.anonymous, confirm=args.confirm
            )
        else:
            result = getattr(client, args.command)()
    except ApiProblem as problem:
        print(json.dumps(problem.problem, indent=2), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
