"""Template context every page gets."""

from django.conf import settings
from django.http import HttpRequest

from coinsite.lib.l10n import language_choices


def test_mode(request: HttpRequest) -> dict:
    """Which side of the money is simulated, for the test-mode banner (templates/_test_mode_banner.html).

    Staging sites run the sandbox providers (ALLOW_SANDBOX_PROVIDERS) or a provider's test keys; a
    visitor must not mistake them for the real thing.
    """
    if not (settings.TEST_MODE_PAYMENTS or settings.TEST_MODE_PAYOUTS):
        return {"test_mode": None}
    return {"test_mode": {"payments": settings.TEST_MODE_PAYMENTS, "payouts": settings.TEST_MODE_PAYOUTS}}


def languages(request: HttpRequest) -> dict:
    """The footer's language chooser: every language of the site, each named in itself."""
    return {"site_languages": language_choices()}


def support(request: HttpRequest) -> dict:
    """Where "Contact support" links point (settings.SUPPORT_EMAIL)."""
    return {"support_email": settings.SUPPORT_EMAIL}
