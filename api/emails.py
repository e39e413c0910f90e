"""The API's one email: a creator's webhook endpoint was disabled after failing for more than a day."""

from django.utils import timezone
from django.utils.translation import gettext as _

from api.models import WebhookEndpoint
from coinsite.accounts.email_claims import email_send_once
from coinsite.lib.email import email_send, recipient_locale, site_url


def endpoint_disabled_send(*, endpoint_id: int) -> bool:
    """Email the creator (in their language), once per disabling even when the task is delivered twice; False when
    the endpoint is gone, was turned back on, or its creator was told already."""
    endpoint = WebhookEndpoint.objects.select_related("creator").filter(pk=endpoint_id, is_active=False).first()
    if endpoint is None:
        return False
    creator = endpoint.creator
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint.pk)

    def send() -> None:
        with recipient_locale(creator):
            email_send(
                to=creator.email,
                subject=_("Your Coinsite webhook endpoint was disabled"),
                template="webhook_disabled",
                context={"user": creator, "endpoint": endpoint, "webhooks_url": site_url("api:webhooks")},
            )

    return email_send_once(
        key=f"api.endpoint-disabled:{endpoint.pk}",
        task="api.tasks.webhook_disabled_email",  # its caller (api.tasks imports this module)
        args=[endpoint.pk],
        claim=lambda: (
            endpoints.filter(is_active=False, disabled_notice_sent_at__isnull=True).update(
                disabled_notice_sent_at=timezone.now()
            )
            == 1
        ),
        send=send,
        release=lambda: endpoints.update(disabled_notice_sent_at=None),
    )
