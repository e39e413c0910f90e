from django.apps import AppConfig


class GiftingConfig(AppConfig):
    name = "gifting"
    verbose_name = "Gifting"
