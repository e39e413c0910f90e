"""`make cluster`: Coinsite on one machine the way production runs it on many (docs/operations.md).

    python deploy/cluster.py up       start everything in the background (a supervisor), wait until ready
    python deploy/cluster.py stop     stop everything
    python deploy/cluster.py status   what runs, with pids and restarts
    python deploy/cluster.py test     up, the failure drills (deploy/drills.py), stop; non-zero if anything was lost
    python deploy/cluster.py bench    the gift benchmark through nginx on the running cluster, beside pgbench

What runs, all under var/cluster/ and on the ports from CLUSTER_PORT_BASE (default 8150):

    base      nginx, TLS (self-signed), load balancer and static files  https://127.0.0.1:8150/
    base+1..3 three uvicorn web processes (ASGI), each its own process
    base+4    PostgreSQL primary (initdb with the machine's binaries, `pg_config --bindir`)
    base+5    PostgreSQL streaming replica (pg_basebackup -R from the primary)
    base+6    Redis (cache, live-event bus, Celery broker), append-only file on
    base+7    an SMTP sink that keeps mail in var/cluster/mail/ (production mode needs SMTP)
    base+8    nginx, plain http, 127.0.0.1 only: the sandbox payment provider's webhooks
    -         two Celery workers and one beat

The supervisor restarts whatever exits, as systemd or an orchestrator would (a drill's SIGKILL
included), unless a drill holds that service down (run/hold/<name>). The production environment
(DEBUG off, generated secrets) is written once to var/cluster/cluster.env and reused.
"""

import argparse
import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = Path(os.environ.get("CLUSTER_DIR") or ROOT / "var" / "cluster").resolve()
RUN, LOGS, HOLD = CLUSTER / "run", CLUSTER / "logs", CLUSTER / "run" / "hold"
ENV_FILE, STATE_FILE = CLUSTER / "cluster.env", CLUSTER / "run" / "state.json"
SUPERVISOR_PID = RUN / "supervisor.pid"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
BASE = int(os.environ.get("CLUSTER_PORT_BASE") or 8150)
NGINX_PORT, WEB_PORTS = BASE, [BASE + 1, BASE + 2, BASE + 3]
PRIMARY_PORT, REPLICA_PORT, REDIS_PORT, SMTP_PORT, WEBHOOK_PORT = BASE + 4, BASE + 5, BASE + 6, BASE + 7, BASE + 8
WORKERS = 2
PG_USER = "postgres"  # the system user PostgreSQL runs as (it refuses to run as root)
DB_NAME = "coinsite"


def log(message: str) -> None:
    print(f"[cluster {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Environment ------------------------------------------------------------------------------------


def production_env() -> dict[str, str]:
    """The production environment: secrets generated once (var/cluster/cluster.env, kept, like the
    database they open), the rest from this file at every start, over the process environment."""
    CLUSTER.mkdir(parents=True, exist_ok=True)
    if not ENV_FILE.exists():
        ENV_FILE.write_text("".join(f"{key}={value}\n" for key, value in _new_secrets().items()))
        ENV_FILE.chmod(0o600)
    stored = dict(line.split("=", 1) for line in ENV_FILE.read_text().splitlines() if "=" in line)
    values = {**_settings(stored), **{key: stored[key] for key in SECRET_NAMES if key in stored}}
    keep = {key: value for key, value in os.environ.items() if key not in values and not key.startswith("DJANGO_")}
    return {**keep, **values}


SECRET_NAMES = ("SECRET_KEY", "PGPASSWORD_CLUSTER", "SANDBOX_WEBHOOK_SECRET", "METRICS_TOKEN")


def _new_secrets() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "PGPASSWORD_CLUSTER": secrets.token_urlsafe(24),
        "SANDBOX_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
    }


def _settings(stored: dict[str, str]) -> dict[str, str]:
    password = stored["PGPASSWORD_CLUSTER"]
    database = f"postgres://{PG_USER}:{password}@127.0.0.1:{PRIMARY_PORT}/{DB_NAME}"
    redis_url = f"redis://127.0.0.1:{REDIS_PORT}"
    return {
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": f"https://127.0.0.1:{NGINX_PORT}",
        # nginx terminates TLS and listens on https only; its internal http port serves webhooks.
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database,
        "DATABASE_REPLICA_URL": database.replace(str(PRIMARY_PORT), str(REPLICA_PORT)),
        # Per web process; a request waits this long for a pooled connection before answering 503.
        "DB_POOL_MAX": "10",
        "DB_POOL_TIMEOUT": "10",
        "REDIS_URL": f"{redis_url}/0",
        "CELERY_BROKER_URL": f"{redis_url}/1",
        # A worker killed outright gives its tasks back after this; every task finishes well inside it.
        "CELERY_VISIBILITY_TIMEOUT": "60",
        "CELERY_TASK_TIME_LIMIT": "50",
        "CELERY_TASK_SOFT_TIME_LIMIT": "40",
        # A payout or top-up whose task was lost with a killed worker is taken up again within two minutes,
        # and so is an unsent receipt or notice.
        "PAYOUTS_STUCK_AFTER_SECONDS": "90",
        "PAYOUTS_SWEEP_SECONDS": "30",
        "TOPUPS_RECHECK_AFTER_SECONDS": "90",
        "TOPUPS_SWEEP_SECONDS": "30",
        "EMAILS_RESEND_AFTER_SECONDS": "90",
        "EMAIL_URL": f"smtp://127.0.0.1:{SMTP_PORT}",
        "ALLOW_SANDBOX_PROVIDERS": "true",
        "SANDBOX_WEBHOOK_URL": f"http://127.0.0.1:{WEBHOOK_PORT}/wallet/webhooks/sandbox/",
        "LOG_FORMAT": "json",
        "COINSITE_VAR_DIR": str(CLUSTER),
        "REPLICA_MAX_LAG_SECONDS": "5",
    }


def pg_bindir() -> Path:
    """The machine's PostgreSQL server binaries (`pg_config --bindir`), e.g. /usr/lib/postgresql/15/bin."""
    pg_config = shutil.which("pg_config")
    candidates = []
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)  # noqa: S603
        candidates.append(Path(found.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_basebackup").exists():
            return candidate
    raise SystemExit("PostgreSQL server binaries (initdb, pg_basebackup) not found: apt-get install postgresql")


# --- Services -------------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    ready: Callable[[], bool] | None = None
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        log_file = open(LOGS / f"{self.name}.log", "ab")  # noqa: SIM115 (handed to the child, closed below)
        try:
            self.process = subprocess.Popen(  # noqa: S603
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self.user,
                start_new_session=True,  # its own process group: a worker's pool children stop with it
            )
        finally:
            log_file.close()
        self.started_at = time.time()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if not self.running:
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, self.stop_signal)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def services(env: dict[str, str]) -> list[Service]:
    """Every service, in start order (stopped in reverse)."""
    bindir = pg_bindir()
    app_env = {**env, "PYTHONUNBUFFERED": "1"}
    web_env = {**app_env, "PROMETHEUS_MULTIPROC_DIR": str(CLUSTER / "prometheus")}
    socket_dir = str(RUN / "pg")
    found: list[Service] = []
    for name, port in (("primary", PRIMARY_PORT), ("replica", REPLICA_PORT)):
        found.append(
            Service(
                name,
                [str(bindir / "postgres"), "-D", str(CLUSTER / f"pg-{name}"), "-p", str(port), "-k", socket_dir],
                env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
                user=PG_USER,
                stop_signal=signal.SIGINT,  # PostgreSQL's fast shutdown
                ready=functools.partial(_pg_ready, bindir, port),
            )
        )
    redis_command = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--dir", str(CLUSTER / "redis")]
    redis_command += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
    found.append(Service("redis", redis_command, env=dict(os.environ), ready=lambda: _port_open(REDIS_PORT)))
    found.append(
        Service(
            "smtp",
            [PYTHON, str(Path(__file__)), "smtp-sink"],
            env=app_env,
            ready=lambda: _port_open(SMTP_PORT),
        )
    )
    for number, port in enumerate(WEB_PORTS, start=1):
        uvicorn = [PYTHON, "-m", "uvicorn", "coinsite.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
        uvicorn += ["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1", "--no-access-log"]
        uvicorn += ["--timeout-graceful-shutdown", "3"]
        ready = functools.partial(_http_ok, port, "/healthz")
        found.append(Service(f"web-{number}", uvicorn, env=web_env, ready=ready))
    for number in range(1, WORKERS + 1):
        worker = [PYTHON, "-m", "celery", "-A", "coinsite", "worker", "-n", f"worker{number}@%h", "--concurrency", "2"]
        worker += ["--loglevel", "INFO", "--without-mingle", "--without-gossip"]
        found.append(Service(f"worker-{number}", worker, env=app_env))
    beat = [PYTHON, "-m", "celery", "-A", "coinsite", "beat", "--loglevel", "INFO"]
    beat += ["--schedule", str(RUN / "celerybeat-schedule")]
    found.append(Service("beat", beat, env=app_env))
    nginx = ["nginx", "-p", str(CLUSTER / "nginx"), "-c", str(CLUSTER / "nginx" / "nginx.conf"), "-g", "daemon off;"]
    found.append(Service("nginx", nginx, env=dict(os.environ), stop_signal=signal.SIGQUIT, ready=_nginx_ready))
    return found


def _port_open(port: int) -> bool:
    import socket  # noqa: PLC0415  (only the probes need it)

    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _pg_ready(bindir: Path, port: int) -> bool:
    result = subprocess.run(  # noqa: S603
        [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-t", "1"], capture_output=True
    )
    return result.returncode == 0


def _http_ok(port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def tls_context() -> ssl.SSLContext:
    """Trust the cluster's own self-signed certificate (and only it)."""
    return ssl.create_default_context(cafile=str(CLUSTER / "nginx" / "cert.pem"))


def site_get(path: str, *, headers: dict[str, str] | None = None, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(f"https://127.0.0.1:{NGINX_PORT}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls_context()) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _nginx_ready() -> bool:
    try:
        return site_get("/healthz", timeout=2)[0] == 200
    except OSError:
        return False


# --- First start: databases, certificate, nginx configuration ---------------------------------------


def prepare_files(env: dict[str, str]) -> None:
    for folder in (RUN, LOGS, HOLD, CLUSTER / "redis", CLUSTER / "mail", CLUSTER / "nginx" / "temp"):
        folder.mkdir(parents=True, exist_ok=True)
    (RUN / "pg").mkdir(exist_ok=True)
    shutil.chown(RUN / "pg", PG_USER, PG_USER)
    for stale in HOLD.iterdir():
        stale.unlink()
    multiproc = CLUSTER / "prometheus"
    shutil.rmtree(multiproc, ignore_errors=True)  # prometheus_client: empty at every start
    multiproc.mkdir()
    _certificate()
    (CLUSTER / "nginx" / "nginx.conf").write_text(nginx_conf())
    if not (CLUSTER / "pg-primary" / "PG_VERSION").exists():
        _initdb(env)


def _certificate() -> None:
    cert, key = CLUSTER / "nginx" / "cert.pem", CLUSTER / "nginx" / "key.pem"
    if cert.exists() and key.exists():
        return
    subprocess.run(  # noqa: S603
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825", "-keyout", str(key)),
            *("-out", str(cert), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)


def _initdb(env: dict[str, str]) -> None:
    data = CLUSTER / "pg-primary"
    data.mkdir(parents=True, exist_ok=True)
    shutil.chown(data, PG_USER, PG_USER)
    pwfile = RUN / "pg" / "pwfile"
    pwfile.write_text(env["PGPASSWORD_CLUSTER"] + "\n")
    shutil.chown(pwfile, PG_USER, PG_USER)
    log("initdb: a new PostgreSQL primary in var/cluster/pg-primary")
    try:
        _as_postgres(
            [
                *(str(pg_bindir() / "initdb"), "-D", str(data), "-U", PG_USER, "--pwfile", str(pwfile)),
                *("--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--locale=C.UTF-8"),
            ]
        )
    finally:
        pwfile.unlink()
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(
            "\n# Coinsite cluster (deploy/cluster.py)\n"
            "listen_addresses = '127.0.0.1'\n"
            "max_connections = 200\n"
            "wal_level = replica\nmax_wal_senders = 5\nwal_keep_size = '256MB'\nhot_standby = on\n"
            "hot_standby_feedback = on\n"
        )


def _as_postgres(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, user=PG_USER, cwd="/", **kwargs)  # noqa: S603
    if result.returncode:
        raise SystemExit(f"{Path(command[0]).name} failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return result


def ensure_database(env: dict[str, str]) -> None:
    import psycopg  # noqa: PLC0415  (the venv's, imported only by the supervisor)

    admin = f"postgres://{PG_USER}:{env['PGPASSWORD_CLUSTER']}@127.0.0.1:{PRIMARY_PORT}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            connection.execute(f"CREATE DATABASE {DB_NAME}")
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        manage(env, *command)
    seeded = CLUSTER / "run" / "seeded"
    if not seeded.exists():
        manage(env, "seed_demo")
        seeded.touch()


def manage(env: dict[str, str], *args: str) -> None:
    log(f"manage.py {' '.join(args)}")
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)  # noqa: S603
    (LOGS / "manage.log").open("a").write(result.stdout + result.stderr)
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")


def ensure_replica(env: dict[str, str]) -> None:
    data = CLUSTER / "pg-replica"
    if (data / "PG_VERSION").exists():
        return
    log("pg_basebackup: a streaming replica in var/cluster/pg-replica")
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(mode=0o700)  # var/cluster is root's: PostgreSQL's user gets its own empty folder
    shutil.chown(data, PG_USER, PG_USER)
    _as_postgres(
        [
            *(str(pg_bindir() / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(PRIMARY_PORT), "-U", PG_USER),
            *("-D", str(data), "-R", "-X", "stream", "-c", "fast"),
        ],
        env={"PGPASSWORD": env["PGPASSWORD_CLUSTER"], "PATH": os.environ.get("PATH", "")},
    )


def nginx_conf() -> str:
    upstreams = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;" for port in WEB_PORTS)
    temp = CLUSTER / "nginx" / "temp"
    proxy = """
            proxy_pass http://coinsite;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Request-ID $coinsite_request_id;
            proxy_connect_timeout 2s;
            # A process that died mid-request answers 502 and the client retries with the same
            # idempotency key; one that refuses connections is skipped, even for a POST (nothing was sent).
            proxy_next_upstream error timeout http_502;
            proxy_next_upstream_tries 3;"""
    return f"""# Generated by deploy/cluster.py; edit that file instead.
worker_processes 2;
pid {RUN / "nginx.pid"};
error_log {LOGS / "nginx-error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    server_tokens off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    # The caller's request id when it sends one, else nginx's own; Django checks its shape.
    map $http_x_request_id $coinsite_request_id {{ default $http_x_request_id; "" $request_id; }}
    log_format json escape=json '{{"time":"$time_iso8601","request_id":"$coinsite_request_id",'
        '"remote":"$remote_addr","method":"$request_method","uri":"$request_uri","status":$status,'
        '"bytes":$body_bytes_sent,"seconds":$request_time,"upstream":"$upstream_addr",'
        '"upstream_status":"$upstream_status"}}';
    access_log {LOGS / "nginx-access.log"} json;
    upstream coinsite {{
        least_conn;
{upstreams}
        keepalive 64;
        # Idle connections to uvicorn close on nginx's side first: uvicorn closes them after 5 s (its
        # --timeout-keep-alive), and a POST sent on one it was closing failed with a 502 (the drills saw it).
        keepalive_timeout 4s;
    }}
    server {{
        listen 127.0.0.1:{NGINX_PORT} ssl;
        server_name 127.0.0.1 localhost;
        ssl_certificate {CLUSTER / "nginx" / "cert.pem"};
        ssl_certificate_key {CLUSTER / "nginx" / "key.pem"};
        ssl_protocols TLSv1.2 TLSv1.3;
        client_max_body_size 2m;
        location /static/ {{
            alias {CLUSTER / "staticfiles"}/;
            expires 1y;
            add_header Cache-Control "public, immutable";
            gzip_static on;
        }}
        location ~ ^/live/[0-9]+/events/$ {{{proxy}
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
        location / {{{proxy}
            proxy_read_timeout 60s;
        }}
    }}
    server {{
        # Internal, plain http: the sandbox payment provider's signed webhooks (SANDBOX_WEBHOOK_URL).
        listen 127.0.0.1:{WEBHOOK_PORT};
        location /wallet/webhooks/ {{{proxy}
        }}
        location / {{ return 404; }}
    }}
}}
"""


# --- The supervisor ----------------------------------------------------------------------------------


class Supervisor:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.services = services(env)
        self.stopping = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop_requested)
        signal.signal(signal.SIGINT, self._stop_requested)
        try:
            self._start_all()
            while not self.stopping:
                self._restart_exited()
                self._write_state()
                time.sleep(0.5)
        finally:
            self._stop_all()

    def _stop_requested(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _start_all(self) -> None:
        # The primary, Redis and mail first: migrations and the demo data need them (and enqueue tasks).
        first = [service for service in self.services if service.name in {"primary", "redis", "smtp"}]
        for service in first:
            self._start(service)
        ensure_database(self.env)
        ensure_replica(self.env)
        for service in self.services:
            if self.stopping:
                return
            if service not in first:
                self._start(service)
        log("all services started")

    def _start(self, service: Service, *, wait: bool = True) -> None:
        service.start()
        if not (wait and service.ready):
            return
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not self.stopping:
            if service.ready():
                return
            if not service.running:
                raise SystemExit(f"{service.name} exited at start; see {LOGS / service.name}.log")
            time.sleep(0.3)
        raise SystemExit(f"{service.name} did not become ready in 90 s; see {LOGS / service.name}.log")

    def _restart_exited(self) -> None:
        for service in self.services:
            if service.running or service.process is None or (HOLD / service.name).exists():
                continue
            code = service.process.returncode
            if service.name.startswith("web-"):
                _prometheus_process_dead(service.process.pid)
            log(f"{service.name} exited ({code}); restarting")
            service.restarts += 1
            service.start()

    def _write_state(self) -> None:
        state = {
            service.name: {
                "pid": service.process.pid if service.running and service.process else None,
                "restarts": service.restarts,
                "started_at": service.started_at,
                "held": (HOLD / service.name).exists(),
            }
            for service in self.services
        }
        temporary = STATE_FILE.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(STATE_FILE)

    def _stop_all(self) -> None:
        for service in reversed(self.services):
            if service.running:
                log(f"stopping {service.name}")
                service.stop()
        STATE_FILE.unlink(missing_ok=True)
        log("stopped")


def _prometheus_process_dead(pid: int) -> None:
    from prometheus_client import multiprocess  # noqa: PLC0415  (the venv's; only the supervisor needs it)

    multiprocess.mark_process_dead(pid, str(CLUSTER / "prometheus"))


# --- Commands ---------------------------------------------------------------------------------------------


def supervisor_pid() -> int | None:
    """The running supervisor's pid, or None (also when it has exited but is still our unreaped child)."""
    try:
        pid = int(SUPERVISOR_PID.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    return pid


def state() -> dict[str, dict[str, Any]]:
    try:
        return json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}


def up(*, timeout: float = 600) -> dict[str, str]:
    """Start the supervisor in the background (unless it runs) and wait until the site is ready."""
    env = production_env()
    process: subprocess.Popen | None = None
    if supervisor_pid() is None:
        prepare_files(env)
        with open(LOGS / "supervisor.log", "ab") as supervisor_log:
            process = subprocess.Popen(  # noqa: S603
                [PYTHON, str(Path(__file__)), "supervise"],
                cwd=ROOT,
                stdout=supervisor_log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        SUPERVISOR_PID.write_text(str(process.pid))
        log(f"supervisor {process.pid} starting the cluster (log: {LOGS / 'supervisor.log'})")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor_pid() is None or (process is not None and process.poll() is not None):
            raise SystemExit(f"The cluster failed to start; see {LOGS / 'supervisor.log'}")
        if _ready():
            log(f"ready: https://127.0.0.1:{NGINX_PORT}/ (self-signed certificate: {CLUSTER / 'nginx' / 'cert.pem'})")
            log("demo logins: see the README; /metrics: 'Authorization: Bearer <METRICS_TOKEN of cluster.env>'")
            return env
        time.sleep(1)
    raise SystemExit(f"The cluster was not ready within {timeout:.0f} s; see {LOGS}")


def _ready() -> bool:
    services_up = state()
    if not services_up or not all(entry["pid"] for entry in services_up.values()):
        return False
    try:
        return site_get("/readyz", timeout=3)[0] == 200
    except OSError:
        return False


def stop() -> None:
    pid = supervisor_pid()
    if pid is None:
        log("not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 120
    while supervisor_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    if supervisor_pid() is not None:
        raise SystemExit(f"The supervisor ({pid}) did not stop in 120 s; see {LOGS / 'supervisor.log'}")
    SUPERVISOR_PID.unlink(missing_ok=True)
    log("cluster stopped")


def status() -> None:
    if supervisor_pid() is None:
        print("The cluster is not running.")
        return
    for name, entry in state().items():
        held = "  (held down)" if entry["held"] else ""
        print(f"{name:10} pid {entry['pid'] or '-':>8}  restarts {entry['restarts']}{held}")
    code, body = site_get("/readyz")
    print(f"/readyz: {code} {body.decode()}")


def smtp_sink() -> None:
    """Keep mail for the cluster (production mode needs SMTP): each message a file in var/cluster/mail/."""
    import importlib.util  # noqa: PLC0415

    # The production smoke test's sink, reused (`.ci` is not a package, so it is loaded from its file).
    spec = importlib.util.spec_from_file_location("smoke_production", ROOT / ".ci" / "smoke_production.py")
    assert spec is not None and spec.loader is not None
    smoke = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(smoke)

    class Sink(smoke.SmtpSink):  # type: ignore[name-defined]  # loaded from a file above
        def __init__(self) -> None:
            smoke.socketserver.ThreadingTCPServer.__init__(self, ("127.0.0.1", SMTP_PORT), smoke.SmtpSession)
            self.messages = _MailFolder(CLUSTER / "mail")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Sink().serve_forever()


class _MailFolder(list):
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def append(self, message: Any) -> None:
        (self.folder / f"{time.time_ns()}.eml").write_bytes(message.as_bytes())


@contextlib.contextmanager
def running_cluster() -> Iterator[dict[str, str]]:
    env = up()
    try:
        yield env
    finally:
        stop()


def _drills() -> Any:
    sys.path.insert(0, str(Path(__file__).parent))
    import drills  # noqa: PLC0415  (deploy/drills.py, beside this file; it imports this module)

    return drills


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "stop", "status", "test", "bench", "supervise", "smtp-sink"])
    parser.add_argument("--keep", action="store_true", help="test: leave the cluster running afterwards")
    arguments = parser.parse_args()
    if os.geteuid() != 0 and arguments.command in {"up", "test", "supervise"}:
        raise SystemExit("make cluster runs PostgreSQL as the 'postgres' user and so must start as root.")
    if arguments.command == "up":
        up()
    elif arguments.command == "stop":
        stop()
    elif arguments.command == "status":
        status()
    elif arguments.command == "supervise":
        Supervisor(production_env()).run()
    elif arguments.command == "smtp-sink":
        smtp_sink()
    elif arguments.command == "bench":
        return _drills().bench(up())
    elif arguments.command == "test":
        drills = _drills()
        env = up()
        try:
            return drills.run_all(env)
        finally:
            if not arguments.keep:
                stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
