"""Webhook tasks: thin, take primary keys, idempotent, `acks_late` with `reject_on_worker_lost`.

`webhooks_dispatch` (Celery beat, every two seconds) collects new events into deliveries and hands
each due delivery to `webhook_deliver`; a delivery whose task is lost is claimed again once its
lease passes. Never one task per gift: deliveries exist only for subscribed endpoints.
"""

from celery import shared_task
from django.db import OperationalError

from api import emails, webhooks
from coinsite.lib.tasks import tasks_queue_again

RELIABLE = {"acks_late": True, "reject_on_worker_lost": True}
RETRY_OPTIONS = {**RELIABLE, "autoretry_for": (OperationalError,), "max_retries": 5, "retry_backoff": True}


@shared_task(**RETRY_OPTIONS)
def webhooks_dispatch() -> int:
    """Collect new events, then queue every due delivery; returns how many were queued."""
    webhooks.webhooks_collect()
    due = webhooks.deliveries_claim_due()
    for delivery_id in due:
        webhook_deliver.delay(delivery_id)
    return len(due)


@shared_task(**RETRY_OPTIONS)
def webhook_deliver(delivery_id: int) -> str:
    """Post one delivery (its own retries are scheduled on the row, not by Celery)."""
    return webhooks.delivery_send(delivery_id=delivery_id)


@shared_task(**RETRY_OPTIONS)
def webhook_disabled_email(endpoint_id: int) -> bool:
    """Tell the creator their endpoint was disabled after repeated failures."""
    return emails.endpoint_disabled_send(endpoint_id=endpoint_id)


@shared_task(**RETRY_OPTIONS)
def webhook_emails_sweep() -> int:
    """Queue again the disabled-endpoint emails whose task was lost (or refused by the broker); returns how many.
    The task claims its email before sending, so one queued twice sends it once."""
    unsent = webhooks.endpoint_disabled_notices_unsent()
    return tasks_queue_again(webhook_disabled_email, unsent, what="disabled-endpoint email(s)")
