"""Payouts through a real Celery worker: a payout completes, a duplicate delivery pays once, and a
worker killed in the middle of a payout (Redis broker, prefork pool) still ends with one payment."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from coinsite.celery import app
from coinsite.embedded_db import database_url
from gifting.tests.support import ensure_countries
from payouts.exchange import rates_load
from payouts.models import Payout, PayoutStatus, SandboxPayoutTransfer
from payouts.services import payout_request
from payouts.tasks import payout_process
from payouts.tests import fault_worker
from payouts.tests.support import add_method, give_diamonds
from wallet.audit import ledger_audit_run
from wallet.ledger import user_balance
from wallet.models import Asset

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition, *, timeout: float = 60, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"Timed out waiting for {what}")


def payout_status(payout_id: int) -> str:
    return Payout.objects.filter(pk=payout_id).values_list("status", flat=True).get()


@pytest.fixture
def funded_creator(bob):
    ensure_countries()
    rates_load()
    give_diamonds(bob, 40_000)
    return bob


def test_a_payout_completes_through_a_real_worker(funded_creator, real_celery_worker):
    method = add_method(funded_creator)

    payout = payout_request(creator=funded_creator, method_id=method.pk, diamonds=10_000, idempotency_key="w1")

    wait_for(lambda: payout_status(payout.pk) == PayoutStatus.PAID, what="the payout to be paid")
    assert SandboxPayoutTransfer.objects.get().status == "paid"
    assert user_balance(funded_creator, Asset.DIAMOND) == 30_000
    assert ledger_audit_run().ok


def test_a_duplicate_delivery_pays_once(funded_creator, real_celery_worker):
    method = add_method(funded_creator)
    payout = payout_request(creator=funded_creator, method_id=method.pk, diamonds=10_000, idempotency_key="w2")
    payout_process.delay(payout.pk)  # the broker delivers the same task twice more
    payout_process.delay(payout.pk)

    wait_for(lambda: payout_status(payout.pk) == PayoutStatus.PAID, what="the payout to be paid")
    time.sleep(1)  # let the extra deliveries run to the end (they must find nothing to do)
    assert SandboxPayoutTransfer.objects.count() == 1
    assert Payout.objects.get(pk=payout.pk).attempts == 1
    assert user_balance(funded_creator, Asset.DIAMOND) == 30_000
    assert ledger_audit_run().ok


@pytest.mark.skipif(
    not settings.CELERY_BROKER_URL.startswith("redis://"),
    reason="needs the Redis broker (CELERY_BROKER_URL=redis://…, as in CI)",
)
def test_a_worker_killed_mid_payout_still_pays_exactly_once(funded_creator, tmp_path):
    """Kill the worker's child process after the provider accepted the transfer and before we
    recorded it; `acks_late` + `reject_on_worker_lost` requeue the task, the new child takes over."""
    app.control.purge()
    marker = tmp_path / "paused"
    worker = _start_worker(marker)
    try:
        method = add_method(funded_creator)
        app.conf.task_always_eager = False
        try:
            payout = payout_request(
                creator=funded_creator, method_id=method.pk, diamonds=10_000, idempotency_key="kill"
            )
        finally:
            app.conf.task_always_eager = True
        wait_for(marker.exists, what="the worker to reach the pause after submitting")
        assert SandboxPayoutTransfer.objects.count() == 1
        child_pid = int(marker.read_text())
        assert child_pid != worker.pid
        os.kill(child_pid, signal.SIGKILL)

        wait_for(
            lambda: payout_status(payout.pk) == PayoutStatus.PAID,
            timeout=90,
            what="the redelivered task to finish the payout",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
    assert SandboxPayoutTransfer.objects.count() == 1
    assert user_balance(funded_creator, Asset.DIAMOND) == 30_000
    assert ledger_audit_run().ok


def _start_worker(marker: Path) -> subprocess.Popen:
    database = connection.settings_dict
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(database),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        fault_worker.MARKER_VARIABLE: str(marker),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "payouts.tests.fault_worker",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=settings.BASE_DIR,
        env=env,
    )
