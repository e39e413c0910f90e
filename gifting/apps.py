from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from wallet.ledger_kinds import ledger_kind_register


class GiftingConfig(AppConfig):
    name = "gifting"
    verbose_name = _("Gifting")

    def ready(self) -> None:
        # Deferred import: gifting.services imports models, which need the app registry ready.
        from gifting.services import GIFT_LEDGER_KIND  # noqa: PLC0415

        # Gifts spend the viewer's coins: the wallet lists them as "Gift" and counts them against budgets.
        ledger_kind_register(kind=GIFT_LEDGER_KIND, label=_("Gift"), order=20, spends_coins=True)
