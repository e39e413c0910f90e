from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "coinsite.accounts"
    label = "accounts"
    verbose_name = "Accounts"
