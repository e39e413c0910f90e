import datetime
import time

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from coinsite.accounts.tasks import purge_abandoned_two_factor_setups
from coinsite.celery import app


def test_celery_is_configured_for_reliable_work(settings):
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert "purge-abandoned-2fa-setups" in app.conf.beat_schedule


@pytest.mark.worker
def test_a_real_worker_runs_a_task_through_the_broker(real_celery_worker, alice):
    stale = TOTPDevice.objects.create(user=alice, name="abandoned", confirmed=False)
    TOTPDevice.objects.filter(pk=stale.pk).update(created_at=timezone.now() - datetime.timedelta(days=2))
    fresh = TOTPDevice.objects.create(user=alice, name="in progress", confirmed=False)

    purge_abandoned_two_factor_setups.delay()

    deadline = time.monotonic() + 20
    while TOTPDevice.objects.filter(pk=stale.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not TOTPDevice.objects.filter(pk=stale.pk).exists()
    assert TOTPDevice.objects.filter(pk=fresh.pk).exists()
