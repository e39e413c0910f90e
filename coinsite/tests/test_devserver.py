"""`make run` (coinsite/devserver.py) on a fresh var folder with nothing set: the embedded PostgreSQL,
migrations and demo data, the site on PORT, a real Celery worker and beat on the filesystem broker;
Ctrl-C stops all of it, database included."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest

from coinsite import embedded_db

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.worker


def wait_for(condition, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"Timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def var():
    folder = ROOT / "var" / "tests" / f"devserver-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_make_run_serves_the_site_with_a_worker_and_beat_and_ctrl_c_stops_everything(var):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    env.update(DEBUG="true", COINSITE_VAR_DIR=str(var), PORT=str(port), DJANGO_SETTINGS_MODULE="coinsite.settings")
    log = var / "run.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "coinsite.devserver"], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for(lambda: answers(f"http://127.0.0.1:{port}/"), timeout=300, what="the site")
        # seed_demo queued work (a payout) through the filesystem broker; the worker took it.
        wait_for(lambda: "Payout 1 settled: paid" in log.read_text(), timeout=120, what="the worker to pay")
        assert "beat: Starting..." in log.read_text()
        assert f"Coinsite on http://127.0.0.1:{port}/" in log.read_text()
        helpers = psutil.Process(server.pid).children(recursive=True)
        assert len(helpers) >= 4  # uvicorn, worker (and its pool), beat
        assert embedded_db.is_running(var)

        server.send_signal(signal.SIGINT)  # Ctrl-C

        assert server.wait(timeout=90) == 0
        assert [helper.pid for helper in helpers if helper.is_running() and helper.status() != "zombie"] == []
        assert not embedded_db.is_running(var)
        assert not answers(f"http://127.0.0.1:{port}/")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
