from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def sandbox_in_production(app_configs: object, **kwargs: Any) -> list[checks.CheckMessage]:
    """With DEBUG off and the sandbox as the payment provider, anyone can buy coins with a test
    card. That is right for a demo or staging site and wrong anywhere else, so say it loudly."""
    if settings.DEBUG or settings.PAYMENT_PROVIDER != "sandbox":
        return []
    return [
        checks.Warning(
            "PAYMENT_PROVIDER is 'sandbox' with DEBUG off: coins can be bought with test cards.",
            hint="Set PAYMENT_PROVIDER=stripe (and the STRIPE_* variables) for real payments.",
            id="paysandbox.W001",
        )
    ]
