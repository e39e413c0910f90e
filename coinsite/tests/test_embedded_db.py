"""The embedded PostgreSQL (DATABASE_URL unset): importing settings starts and creates nothing; the
commands that need the database start it, and the last one out stops it, even after another user
of it was killed."""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dj_database_url
import pytest

from coinsite import embedded_db

ROOT = Path(__file__).resolve().parents[2]
QUERY = (
    "import django; django.setup(); from django.db import connection; "
    "cursor = connection.cursor(); cursor.execute('SELECT current_database(), 1'); print(*cursor.fetchone())"
)


def _env(var: Path, **overrides) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    return {**env, "DEBUG": "true", "COINSITE_VAR_DIR": str(var), **overrides}


def _run(var: Path, *command: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=_env(var, **env), capture_output=True, text=True, timeout=120
    )


def _clients(var: Path) -> list[str]:
    return sorted(entry.name for entry in (var / "postgres-clients").iterdir())


@pytest.fixture(scope="module")
def var() -> Iterator[Path]:
    """One data folder for the module (initdb runs once), inside the checkout: as root the server runs
    as another user, and pytest keeps its own temporary folders closed to other users."""
    folder = ROOT / "var" / "tests" / f"embedded-{uuid.uuid4().hex[:8]}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_importing_settings_starts_nothing_and_creates_nothing(tmp_path):
    var = tmp_path / "var"
    probe = (
        "import django; django.setup(); from django.conf import settings as s; print(s.DATABASES['default']['HOST'])"
    )

    result = _run(var, "-c", probe, DJANGO_SETTINGS_MODULE="coinsite.settings")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(embedded_db.socket_dir(var))
    assert not var.exists()


def test_production_mode_never_starts_the_embedded_server(tmp_path):
    var = tmp_path / "var"

    result = _run(var, "manage.py", "check", DEBUG="false")

    assert result.returncode != 0
    assert "Environment variable SECRET_KEY is not set" in result.stderr
    assert not var.exists()


def test_a_command_run_through_the_runner_gets_the_database_and_the_server_stops_after(var):
    result = _run(
        var, "-m", "coinsite.embedded_db", sys.executable, "-c", QUERY, DJANGO_SETTINGS_MODULE="coinsite.settings"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "coinsite 1"
    assert not embedded_db.is_running(var)
    assert _clients(var) == []


def test_the_server_stops_only_when_its_last_user_leaves(var):
    with embedded_db.running(var):
        assert _clients(var) == [str(os.getpid())]

        result = _run(
            var, "manage.py", "shell", "--no-imports", "-c", QUERY.removeprefix("import django; django.setup(); ")
        )

        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "coinsite 1"
        assert embedded_db.is_running(var)  # manage.py left; this test still uses the server
        assert _clients(var) == [str(os.getpid())]
    assert not embedded_db.is_running(var)
    assert _clients(var) == []


def test_a_user_killed_without_leaving_does_not_keep_the_server_up(var):
    holder = subprocess.Popen(
        [sys.executable, "-m", "coinsite.embedded_db", "sleep", "120"],
        cwd=ROOT,
        env=_env(var),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _clients(var) != [str(holder.pid)] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert embedded_db.is_running(var)
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # it cannot leave: the server keeps running for now
        holder.wait()
    assert embedded_db.is_running(var)

    result = _run(var, "-m", "coinsite.embedded_db", "true")

    assert result.returncode == 0, result.stderr
    assert not embedded_db.is_running(var)
    assert _clients(var) == []


def test_another_process_reaches_the_same_database_through_the_url():
    """Test servers and workers get DATABASE_URL from the test's settings; the embedded server's HOST is a socket
    folder, which must survive the URL (it used to end up in the database name: 9 tests failed without one)."""
    socket_host = {"USER": "postgres", "HOST": "/tmp/a b/var/postgres-socket", "PORT": "5432", "NAME": "test_coinsite"}
    tcp_host = {"USER": "postgres", "PASSWORD": "p@ss", "HOST": "127.0.0.1", "PORT": 5433, "NAME": "test_x"}

    for database in (socket_host, tcp_host):
        parsed = dj_database_url.parse(embedded_db.database_url(database))
        assert {key: str(parsed[key]) for key in database} == {key: str(value) for key, value in database.items()}
