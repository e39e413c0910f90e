"""The API's one email: a creator's webhook endpoint was disabled after failing for more than a day."""

from django.utils.translation import gettext as _

from api.models import WebhookEndpoint
from coinsite.lib.email import email_send, recipient_locale, site_url


def endpoint_disabled_send(*, endpoint_id: int) -> bool:
    """Email the creator (in their language); False when the endpoint is gone or was turned back on."""
    endpoint = WebhookEndpoint.objects.select_related("creator").filter(pk=endpoint_id, is_active=False).first()
    if endpoint is None:
        return False
    creator = endpoint.creator
    with recipient_locale(creator):
        email_send(
            to=creator.email,
            subject=_("Your Coinsite webhook endpoint was disabled"),
            template="webhook_disabled",
            context={"user": creator, "endpoint": endpoint, "webhooks_url": site_url("api:webhooks")},
        )
    return True
