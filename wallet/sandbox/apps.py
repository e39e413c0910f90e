from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class SandboxConfig(AppConfig):
    """The built-in test payment provider: a hosted checkout page plus signed, asynchronous
    webhooks. It plays the part of an outside company, so Coinsite's code talks to it only
    through `wallet.providers.sandbox` and its webhooks."""

    name = "wallet.sandbox"
    label = "paysandbox"
    verbose_name = gettext_lazy("Payment sandbox")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from wallet.sandbox import checks  # noqa: F401, PLC0415  (registers the deploy check once the apps are ready)
