from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class WalletConfig(AppConfig):
    name = "wallet"
    verbose_name = gettext_lazy("Wallet")
