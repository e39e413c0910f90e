"""Emails about payouts: a payout method changed (security notice), a payout failed or was rejected."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from payouts.models import Payout, PayoutMethod


def method_changed_send(*, method_id: int) -> None:
    from payouts.tasks import payout_email_method_changed

    payout_email_method_changed.delay(method_id)


def payout_failed_send(*, payout_id: int) -> None:
    from payouts.tasks import payout_email_failed

    payout_email_failed.delay(payout_id)


def method_changed_deliver(*, method_id: int) -> bool:
    from payouts.services import payouts_held_until

    method = PayoutMethod.objects.select_related("creator").get(pk=method_id)
    _send(
        to=method.creator.email,
        subject="Your Coinsite payout method was changed",
        template="payout_method_changed",
        context={"user": method.creator, "method": method, "held_until": payouts_held_until(method.creator)},
    )
    return True


def payout_failed_deliver(*, payout_id: int) -> bool:
    """Tell the creator once that a payout failed or was rejected and its diamonds are back."""
    claimed = Payout.objects.filter(pk=payout_id, failure_email_sent_at__isnull=True).update(
        failure_email_sent_at=timezone.now()
    )
    if not claimed:
        return False
    payout = Payout.objects.select_related("creator", "method").get(pk=payout_id)
    try:
        _send(
            to=payout.creator.email,
            subject=f"Your payout of {payout.diamonds:,} diamonds did not go through",
            template="payout_failed",
            context={"user": payout.creator, "payout": payout},
        )
    except Exception:
        Payout.objects.filter(pk=payout_id).update(failure_email_sent_at=None)
        raise
    return True


def _send(*, to: str, subject: str, template: str, context: dict) -> None:
    context = {**context, "earnings_url": settings.SITE_URL + reverse("payouts:index")}
    message = EmailMultiAlternatives(subject=subject, body=render_to_string(f"emails/{template}.txt", context), to=[to])
    message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    message.send()
