"""Production smoke test: the README's production deployment, run for real on this machine.

A production environment from the README's configuration table (DEBUG off, generated secrets,
EMAIL_URL to an SMTP sink started here, Stripe test keys, PayPal payouts, Redis for Celery and the
cache, a scratch database on PostgreSQL), then the README's steps: check --deploy, collectstatic,
migrate, uvicorn, a Celery worker and beat. Requests go over http to uvicorn with
`X-Forwarded-Proto: https`, as the TLS proxy in front of it would send them, and must answer 200
with the production headers: the pages, every CSS and JS file they link, a stream page, admin's
way in; a password-reset email must reach the sink and a task must reach the worker.

Run by `.ci/run` after the tests, or by hand: `.ci/smoke_production`. It stops what it started and
drops the database it created. Environment: SMOKE_POSTGRES_URL (a server where it may create a
database, default postgres://postgres@127.0.0.1:5432/postgres), SMOKE_REDIS_URL (default
redis://127.0.0.1:6379/14; keys there are left to expire).
"""

import email
import http.client
import os
import re
import secrets
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from email.policy import default as email_policy
from html.parser import HTMLParser
from pathlib import Path
from types import FrameType
from typing import NoReturn
from urllib.parse import urlencode, urlsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HOST = "smoke.coinsite.test"
SITE_URL = f"https://{HOST}"
POSTGRES_URL = os.environ.get("SMOKE_POSTGRES_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("SMOKE_REDIS_URL") or "redis://127.0.0.1:6379/14"
STARTUP_SECONDS = 120
TEST_MODE = "Test mode — no real money."  # Stripe test keys and PayPal's sandbox: said on every page

HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PAGE_HEADERS = {**HEADERS, "X-Frame-Options": "DENY"}
JAVASCRIPT_CATALOGUE = "/jsi18n/"
CSP_PARTS = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
]


class SmokeFailure(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


# --- An SMTP sink: the mail server EMAIL_URL points at ------------------------------------------------


class SmtpSink(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SmtpSession)
        self.messages: list[email.message.EmailMessage] = []


class SmtpSession(socketserver.StreamRequestHandler):
    """Enough SMTP for Django's smtp backend: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    server: SmtpSink

    def handle(self) -> None:
        self.reply("220 coinsite-smoke-sink ESMTP")
        while line := self.rfile.readline():
            verb = line[:4].decode("ascii", "replace").upper()
            if verb == "EHLO":
                self.reply("250-coinsite-smoke-sink", "250 8BITMIME")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self.server.messages.append(email.message_from_bytes(self.read_data(), policy=email_policy))
                self.reply("250 OK: queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("250 OK" if verb in {"HELO", "MAIL", "RCPT", "RSET", "NOOP"} else "502 Not implemented")

    def read_data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)

    def reply(self, *lines: str) -> None:
        self.wfile.write("".join(f"{line}\r\n" for line in lines).encode())


# --- Set-up and clean-up ------------------------------------------------------------------------------


@contextmanager
def scratch_database() -> Iterator[str]:
    name = f"coinsite_smoke_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    print(f"smoke: scratch database {name}")
    try:
        yield urlsplit(POSTGRES_URL)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"smoke: dropped {name}")


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        sink.shutdown()
        sink.server_close()


def production_environment(*, database_url: str, smtp_port: int, var_dir: str) -> dict[str, str]:
    """The README's production configuration, with fresh secrets, and nothing else from outside."""
    keep = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ}
    return {
        **keep,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": HOST,
        "SITE_URL": SITE_URL,
        "DATABASE_URL": database_url,
        "DB_POOL_MAX": "10",
        "CELERY_BROKER_URL": REDIS_URL,
        "REDIS_URL": REDIS_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "DEFAULT_FROM_EMAIL": f"Coinsite <no-reply@{HOST}>",
        "STAFF_ALERT_EMAILS": f"staff@{HOST}",
        "PAYMENT_PROVIDER": "stripe",
        "STRIPE_SECRET_KEY": f"sk_test_{secrets.token_hex(24)}",
        "STRIPE_WEBHOOK_SECRET": f"whsec_{secrets.token_hex(24)}",
        "STRIPE_PUBLISHABLE_KEY": f"pk_test_{secrets.token_hex(24)}",
        "PAYOUT_PROVIDER": "paypal",
        "PAYPAL_CLIENT_ID": secrets.token_urlsafe(32),
        "PAYPAL_CLIENT_SECRET": secrets.token_urlsafe(32),
        "PAYPAL_MODE": "sandbox",
        "COINSITE_VAR_DIR": var_dir,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict[str, str], *args: str) -> str:
    print(f"smoke: python manage.py {' '.join(args).splitlines()[0]}")
    result = subprocess.run(  # noqa: S603 (our own commands)
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    check(result.returncode == 0, f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@contextmanager
def background(name: str, command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A long-running process of the deployment; stopped (SIGTERM, then SIGKILL) on the way out."""
    print(f"smoke: starting {name}: {' '.join(command)}")
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(f"smoke: stopped {name} (exit {process.returncode})")


def wait_for(
    condition: Callable[[], bool], *, what: str, process: subprocess.Popen, log: Path, timeout: float = STARTUP_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        check(process.poll() is None, f"{what}: the process exited ({process.returncode}):\n{log.read_text()}")
        time.sleep(0.5)
    raise SmokeFailure(f"Timed out waiting for {what}:\n{log.read_text()[-4000:]}")


# --- HTTP, as the proxy would send it -----------------------------------------------------------------


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        https: bool = True,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = {"Host": HOST, **({"X-Forwarded-Proto": "https"} if https else {}), **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            if cookie_attributes(cookie).get("max-age") == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = rest.split(";", 1)[0]
        return response, content

    def up(self) -> bool:
        try:
            self.request("GET", "/healthcheck-probe/")
        except OSError:
            return False
        return True


class Assets(HTMLParser):
    """The CSS and JS a page links."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "link" and "stylesheet" in (attributes.get("rel") or "").split() and attributes.get("href"):
            self.urls.append(attributes["href"])
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"])


def check_headers(path: str, response: http.client.HTTPResponse, expected: dict[str, str]) -> None:
    for name, value in expected.items():
        check(response.headers.get(name) == value, f"{path}: {name} is {response.headers.get(name)!r}, not {value!r}")


def cookie_attributes(cookie: str) -> dict[str, str]:
    pairs = [part.strip().partition("=") for part in cookie.split(";")[1:]]
    return {key.lower(): value for key, _, value in pairs}


def check_cookies(path: str, response: http.client.HTTPResponse) -> None:
    for cookie in response.headers.get_all("Set-Cookie") or []:
        attributes = cookie_attributes(cookie)
        name = cookie.split("=", 1)[0]
        if attributes.get("max-age") == "0":
            continue  # a deletion (Django sends those without Secure); it carries no value
        check("secure" in attributes, f"{path}: cookie {name} is not Secure")
        check("samesite" in attributes, f"{path}: cookie {name} has no SameSite")
        if name == "sessionid":
            check("httponly" in attributes, f"{path}: the session cookie is not HttpOnly")


def check_page(client: Client, path: str) -> list[str]:
    response, content = client.request("GET", path)
    check(response.status == 200, f"{path}: HTTP {response.status}, not 200:\n{content[:2000]!r}")
    check_headers(path, response, PAGE_HEADERS)
    policy = response.headers.get("Content-Security-Policy") or ""
    for part in CSP_PARTS:
        check(part in policy, f"{path}: the Content-Security-Policy lacks {part!r}: {policy!r}")
    check("unsafe-inline" not in policy, f"{path}: the Content-Security-Policy allows unsafe-inline")
    check_cookies(path, response)
    html = content.decode()
    for nonce in set(re.findall(r'nonce="([^"]+)"', html)):  # inline and linked scripts carry the response's nonce
        check(f"'nonce-{nonce}'" in policy, f"{path}: nonce {nonce} is not in the Content-Security-Policy")
    check(TEST_MODE in html, f"{path}: no test-mode banner although the keys are test keys")
    parser = Assets()
    parser.feed(html)
    check(parser.urls, f"{path}: links no CSS or JS")
    print(f"smoke: 200 {path} ({len(parser.urls)} CSS/JS files)")
    return parser.urls


def check_asset(client: Client, url: str) -> None:
    if url.startswith(JAVASCRIPT_CATALOGUE):
        return check_javascript_catalogue(client, url)
    check(url.startswith("/static/"), f"{url}: not served from STATIC_URL")
    check(re.search(r"\.[0-9a-f]{12}\.(css|js)$", url) is not None, f"{url}: not a hashed (manifest) name")
    response, content = client.request("GET", url, headers={"Accept-Encoding": "gzip"})
    check(response.status == 200 and content, f"{url}: HTTP {response.status}")
    check_headers(url, response, HEADERS)
    kind = "text/css" if url.endswith(".css") else "text/javascript"
    check((response.headers.get("Content-Type") or "").startswith(kind), f"{url}: {response.headers['Content-Type']}")
    check("immutable" in (response.headers.get("Cache-Control") or ""), f"{url}: not cached as immutable")
    check(response.headers.get("Content-Encoding") == "gzip", f"{url}: no compressed copy was served")


def check_javascript_catalogue(client: Client, url: str) -> None:
    """Django's JavaScript catalogue (the scripts' translations) is a view, not a static file: it answers per
    language, as JavaScript, and lets browsers revalidate it (Last-Modified) instead of fetching it again."""
    response, content = client.request("GET", url)
    check(response.status == 200 and b"gettext" in content, f"{url}: HTTP {response.status}")
    check_headers(url, response, HEADERS)
    content_type = response.headers.get("Content-Type") or ""
    check(content_type.startswith("text/javascript"), f"{url}: {content_type}")
    check(bool(response.headers.get("Last-Modified")), f"{url}: no Last-Modified, so browsers fetch it every time")


def check_redirect(client: Client, path: str, location: str, *, https: bool = True) -> None:
    response, _content = client.request("GET", path, https=https)
    check(
        response.status in (301, 302) and response.headers.get("Location") == location,
        f"{path}: HTTP {response.status} to {response.headers.get('Location')!r}, not to {location!r}",
    )
    print(f"smoke: {response.status} {path} -> {location}")


def submit_form(client: Client, path: str, fields: dict[str, str]) -> str:
    """GET the form, POST it back with its CSRF token (as a browser on SITE_URL would); the redirect."""
    response, content = client.request("GET", path)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', content)
    check(response.status == 200 and token is not None, f"{path}: no form")
    body = urlencode({"csrfmiddlewaretoken": token.group(1).decode(), **fields}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": SITE_URL}
    response, content = client.request("POST", path, body=body, headers=headers)
    check(response.status == 302, f"POST {path}: HTTP {response.status}:\n{content[:2000]!r}")
    check_cookies(path, response)
    return response.headers["Location"]


def check_password_reset_mail(client: Client, sink: SmtpSink, address: str) -> None:
    submit_form(client, "/accounts/password/reset/", {"email": address})
    deadline = time.monotonic() + 30
    while not sink.messages and time.monotonic() < deadline:
        time.sleep(0.2)
    subjects = [(message["To"], message["Subject"]) for message in sink.messages]
    check(
        len(subjects) == 1 and subjects[0][0] == address and "Password Reset" in subjects[0][1],
        f"the SMTP sink got {subjects!r}",
    )
    check(f"{SITE_URL}/accounts/password/reset/key/" in sink.messages[0].get_body().get_content(), "reset link")
    print(f"smoke: password-reset mail to {address} reached the SMTP sink")


# --- The run ------------------------------------------------------------------------------------------

MAKE_STREAM = """import datetime
from allauth.account.models import EmailAddress
from coinsite.accounts.models import User
from gifting.services import stream_start
user = User.objects.create_user(email={email!r}, password={password!r}, birth_date=datetime.date(1990, 5, 17),
                                display_name="Smoke Creator", is_creator=True)
EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
print("stream", stream_start(creator=user, title="Smoke test stream").pk)
"""
SEND_TASK = "from wallet.tasks import ledger_rollup_balances; print('task', ledger_rollup_balances.delay().id)"


def run(stack: ExitStack) -> None:
    var_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="coinsite-smoke-"))
    logs = Path(var_dir)
    database_url = stack.enter_context(scratch_database())
    sink = stack.enter_context(smtp_sink())
    env = production_environment(database_url=database_url, smtp_port=sink.server_address[1], var_dir=var_dir)

    # The README's production steps, in its order.
    manage(env, "check", "--deploy", "--fail-level", "WARNING")
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    creator, password = f"creator-{uuid.uuid4().hex[:8]}@{HOST}", secrets.token_urlsafe(16)
    stream_id = re.search(r"stream (\d+)", manage(env, "shell", "--no-imports", "-c", MAKE_STREAM.format(
        email=creator, password=password))).group(1)  # fmt: skip
    port = free_port()
    web_log, worker_log, beat_log = logs / "web.log", logs / "worker.log", logs / "beat.log"
    web = stack.enter_context(background("uvicorn", [
        str(BIN / "uvicorn"), "coinsite.asgi:application", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
    ], env, web_log))  # fmt: skip
    worker = stack.enter_context(background("worker", [
        str(BIN / "celery"), "-A", "coinsite", "worker", "--loglevel=INFO", "--concurrency", "2",
    ], env, worker_log))  # fmt: skip
    beat = stack.enter_context(background("beat", [
        str(BIN / "celery"), "-A", "coinsite", "beat", "--loglevel=INFO", "--schedule", str(logs / "beat-schedule"),
    ], env, beat_log))  # fmt: skip

    client = Client(port)
    wait_for(client.up, what="uvicorn to answer", process=web, log=web_log)
    assets: set[str] = set()
    for path in ("/", "/live/", "/accounts/login/", f"/live/{stream_id}/"):
        assets.update(check_page(client, path))
    # Admin's own login sends staff to the site's login, which has the 2FA step.
    check_redirect(client, "/admin/login/", "/accounts/login/?next=%2Fadmin%2F")
    assets.update(check_page(client, "/accounts/login/?next=%2Fadmin%2F"))
    check_redirect(client, "/admin/", "/admin/login/?next=/admin/")
    for url in sorted(assets):
        check_asset(client, url)
    print(f"smoke: 200 for {len(assets)} CSS/JS files, hashed, compressed, immutable")
    check_redirect(client, "/live/", f"{SITE_URL}/live/", https=False)  # plain http is sent to https
    response, _ = client.request("GET", "/no-such-page/")
    check(response.status == 404, f"/no-such-page/: HTTP {response.status}, not 404")
    check_password_reset_mail(client, sink, creator)
    # Signed in (a secure session cookie): the wallet, and the creator dashboard with the vendored Chart.js.
    check(submit_form(client, "/accounts/login/", {"login": creator, "password": password}) == "/", "login")
    for path in ("/wallet/", "/creator/"):
        for url in set(check_page(client, path)) - assets:
            check_asset(client, url)
            assets.add(url)
    check(any("/vendor/chartjs/chart.umd.min." in url for url in assets), "the dashboard did not link Chart.js")
    print(f"smoke: signed in; {len(assets)} CSS/JS files in all")

    wait_for(lambda: "celery@" in worker_log.read_text() and " ready." in worker_log.read_text(),
             what="the Celery worker", process=worker, log=worker_log)  # fmt: skip
    wait_for(lambda: "beat: Starting..." in beat_log.read_text(), what="Celery beat", process=beat, log=beat_log)
    task_id = re.search(r"task (\S+)", manage(env, "shell", "--no-imports", "-c", SEND_TASK)).group(1)
    wait_for(lambda: f"[{task_id}] succeeded" in worker_log.read_text(), what="the worker to run a task",
             process=worker, log=worker_log)  # fmt: skip
    print("smoke: a task sent through Redis ran on the worker")


def main() -> int:
    started = time.monotonic()
    with ExitStack() as stack:
        stack.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _exit))
        try:
            run(stack)
        except SmokeFailure as failure:
            print(f"\nsmoke: FAILED: {failure}", file=sys.stderr)
            return 1
    print(f"smoke: production mode works ({time.monotonic() - started:.0f} s)")
    return 0


def _exit(signum: int, frame: FrameType | None) -> NoReturn:
    sys.exit(128 + signum)  # cleans up through the ExitStack


if __name__ == "__main__":
    sys.exit(main())
