"""Forms of the wallet pages: buying coins, filtering the history, budgets and the self-exclusion pause."""

import datetime
from typing import Any, cast

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from coinsite.lib.l10n import format_count
from wallet import spending
from wallet.ledger_kinds import history_types
from wallet.providers.base import PAYMENT_METHODS
from wallet.selectors import HistoryFilter, RechargeOffer

EARLIEST_DATE = datetime.date(2000, 1, 1)
LATEST_DATE = datetime.date(9999, 12, 30)

PAYMENT_METHOD_LABELS = {
    "card": gettext_lazy("Credit or debit card"),
    "paypal": "PayPal",
    "google_pay": "Google Pay",
    "apple_pay": "Apple Pay",
    "carrier_billing": gettext_lazy("Mobile carrier billing"),
}
CUSTOM = "custom"


class RechargeForm(forms.Form):
    """Pick a package (by id) or a custom number of coins, and a payment method offered in the country."""

    choice = forms.CharField(error_messages={"required": gettext_lazy("Choose a coin package or a custom amount.")})
    custom_coins = forms.IntegerField(
        required=False,
        min_value=1,
        label=gettext_lazy("Number of coins"),
        error_messages={"invalid": gettext_lazy("Enter a whole number of coins.")},
    )
    payment_method = forms.ChoiceField(
        choices=[(m, PAYMENT_METHOD_LABELS[m]) for m in PAYMENT_METHODS],
        widget=forms.RadioSelect,
        error_messages={
            "required": gettext_lazy("Choose how you want to pay."),
            "invalid_choice": gettext_lazy("Choose one of the payment methods offered in your country."),
        },
    )

    def __init__(self, *args: Any, offer: RechargeOffer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offer = offer
        methods = cast(forms.ChoiceField, self.fields["payment_method"])
        methods.choices = [(m, PAYMENT_METHOD_LABELS[m]) for m in offer.payment_methods]
        if offer.rate is not None:
            self._limit_custom_coins(offer.rate.min_coins, offer.rate.max_coins)

    def _limit_custom_coins(self, min_coins: int, max_coins: int) -> None:
        # The validators are built when the field is, from the class's min_value=1; setting
        # min_value afterwards would change only the widget, so 0 and 29 got different messages.
        field = cast(forms.IntegerField, self.fields["custom_coins"])
        limits = _("Choose between %(least)s and %(most)s coins.") % {
            "least": format_count(min_coins),
            "most": format_count(max_coins),
        }
        field.min_value, field.max_value = min_coins, max_coins
        field.validators = [MinValueValidator(min_coins, message=limits), MaxValueValidator(max_coins, message=limits)]
        field.widget.attrs.update(min=min_coins, max=max_coins)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        choice = cleaned.get("choice")
        if choice == CUSTOM:
            if self.offer.rate is None:
                self.add_error("choice", _("Custom amounts are not available in your currency."))
            elif cleaned.get("custom_coins") is None and "custom_coins" not in self.errors:
                self.add_error("custom_coins", _("Enter how many coins you want to buy."))
            cleaned["package_id"] = None
        elif choice:
            package_ids = {str(item.package.pk): item.package.pk for item in self.offer.packages}
            if choice not in package_ids:
                self.add_error("choice", _("That coin package is not available in your currency."))
            cleaned["package_id"] = package_ids.get(choice)
            cleaned["custom_coins"] = None
            # Browsers submit the number field whichever radio is picked: ignore a leftover value.
            self.errors.pop("custom_coins", None)
        return cleaned


def _history_type_choices() -> list[tuple[str, str]]:
    # A callable, so types registered by other apps (in their AppConfig.ready) are listed.
    return [("", _("All types")), *((item.key, str(item.label)) for item in history_types())]


class HistoryFilterForm(forms.Form):
    type = forms.ChoiceField(
        required=False,
        label=pgettext_lazy("coin history", "Type"),
        choices=_history_type_choices,
        error_messages={"invalid_choice": gettext_lazy("Choose one of the listed types.")},
    )
    date_from = forms.DateField(
        required=False,
        label=pgettext_lazy("first day", "From"),
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": gettext_lazy("Enter the start date as YYYY-MM-DD.")},
    )
    date_to = forms.DateField(
        required=False,
        label=pgettext_lazy("last day", "To"),
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": gettext_lazy("Enter the end date as YYYY-MM-DD.")},
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        for name in ("date_from", "date_to"):
            day = cleaned.get(name)
            if day is not None and not EARLIEST_DATE <= day <= LATEST_DATE:
                years = {"first": EARLIEST_DATE.year, "last": LATEST_DATE.year}
                self.add_error(name, _("Enter a date between %(first)s and %(last)s.") % years)
        date_from, date_to = cleaned.get("date_from"), cleaned.get("date_to")
        if date_from and date_to and date_from > date_to:
            self.add_error("date_to", _("The end date must be on or after the start date."))
        return cleaned

    def history_filter(self) -> HistoryFilter:
        """The valid filters as the history selectors take them: days in the viewer's time zone (the one the
        history's times are shown in), the end exclusive."""
        key, date_from, date_to = (self.cleaned_data.get(name) for name in ("type", "date_from", "date_to"))
        kinds = next((item.kinds for item in history_types() if item.key == key), None) if key else None
        return HistoryFilter(
            kinds=kinds,
            starts_at=_local_midnight(date_from) if date_from else None,
            ends_before=_local_midnight(date_to + datetime.timedelta(days=1)) if date_to else None,
        )


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class LimitsForm(forms.Form):
    daily_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=spending.MAX_LIMIT,
        label=gettext_lazy("Daily budget (coins)"),
        help_text=gettext_lazy("Leave blank for no daily limit."),
        error_messages={
            "invalid": gettext_lazy("Enter a whole number of coins, or leave it blank for no limit."),
            "min_value": gettext_lazy("Enter at least 1 coin, or leave it blank for no limit."),
        },
    )
    monthly_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=spending.MAX_LIMIT,
        label=gettext_lazy("Monthly budget (coins)"),
        help_text=gettext_lazy("Leave blank for no monthly limit."),
        error_messages={
            "invalid": gettext_lazy("Enter a whole number of coins, or leave it blank for no limit."),
            "min_value": gettext_lazy("Enter at least 1 coin, or leave it blank for no limit."),
        },
    )


class PauseForm(forms.Form):
    period = forms.ChoiceField(
        choices=list(spending.EXCLUSION_LABELS.items()),
        error_messages={
            "invalid_choice": gettext_lazy("Choose a pause of 24 hours, 7 days or 30 days."),
            "required": gettext_lazy("Choose how long to pause for."),
        },
    )
    confirm = forms.BooleanField(
        label=gettext_lazy("I understand this cannot be undone."),
        error_messages={"required": gettext_lazy("Tick the box to confirm: the pause cannot be undone.")},
    )
