"""Celery tasks of the sandbox provider: webhook delivery and the expiry sweep."""

import logging

from celery import Task, shared_task

from wallet.sandbox import services, webhooks

logger = logging.getLogger(__name__)

WEBHOOK_MAX_RETRIES = 8
WEBHOOK_BACKOFF_SECONDS = 10
WEBHOOK_BACKOFF_MAX_SECONDS = 600


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=WEBHOOK_MAX_RETRIES)
def sandbox_webhook_deliver(self: Task, session_id: int) -> str:
    """POST the session's signed outcome event; retries connection errors and 5xx with
    exponential backoff, then gives up (the admin shows it as failed)."""
    try:
        return webhooks.webhook_send(session_id=session_id)
    except webhooks.DeliveryRetryable as error:
        if self.request.retries >= self.max_retries:
            webhooks.webhook_give_up(session_id=session_id)
            return "failed"
        if self.request.is_eager:
            # Without a broker nothing can be scheduled for later (and eager mode re-raises
            # Retry into the caller), so try again at once, within the same bound.
            return self.apply(args=[session_id], retries=self.request.retries + 1).get(disable_sync_subtasks=False)
        countdown = min(WEBHOOK_BACKOFF_MAX_SECONDS, WEBHOOK_BACKOFF_SECONDS * 2**self.request.retries)
        raise self.retry(exc=error, countdown=countdown) from error


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sandbox_expire_sessions() -> dict:
    """Periodic: expire open sessions past their time (each sends `payment.expired`) and re-queue
    webhooks whose delivery task was lost."""
    expired = services.sandbox_sessions_expire()
    resent = services.sandbox_webhooks_resend_stuck()
    if expired or resent:
        logger.info("Sandbox sweep: %s sessions expired, %s webhooks re-queued", expired, resent)
    return {"expired": expired, "resent": resent}
