"""The forms staff fill in: reasons for money actions, catalogue prices, settings, corrections, rates.

Each checks what a typo could break (a price in an unsupported currency, a hold period of a year, a
threshold below the payout minimum) and says what to fix; nothing is saved until it passes.
"""

import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.admin import AdminSite
from django.contrib.admin.widgets import AutocompleteSelect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from djmoney.contrib.exchange.models import Rate
from djmoney.money import Money

from coinsite.accounts.models import User
from coinsite.lib.currencies import CURRENCY_EXPONENTS
from coinsite.lib.dates import current_month, previous_month
from coinsite.lib.l10n import format_month_local
from coinsite.lib.singletons import SingletonModel
from gifting.models import Gift, GiftingSettings
from payouts.models import PayoutSettings
from wallet.models import Adjustment, Asset, CoinPackagePrice, CoinRate, Country, EconomySettings

# Bounds staff may set the economy to; outside them a typo would hurt creators or viewers.
EARNINGS_HOLD_DAYS = (0, 90)
PAYOUT_METHOD_HOLD_HOURS = (0, 720)
EXCHANGE_RATE_MAX_AGE_HOURS = (1, 720)
# What `money_error` says about each amount it checks: (when it is missing, when it is not positive).
MONEY_MESSAGES = {
    "price": (gettext_lazy("Enter the price."), gettext_lazy("The price must be more than zero.")),
    "price of one coin": (
        gettext_lazy("Enter the price of one coin."),
        gettext_lazy("The price of one coin must be more than zero."),
    ),
    "diamond value": (
        gettext_lazy("Enter the diamond value."),
        gettext_lazy("The diamond value must be more than zero."),
    ),
}


def money_error(value: Money | None, *, what: str, allow_fractions: bool = False) -> str | None:
    """Why `value` cannot be a price in the catalogue (None when it can); `what` is a key of MONEY_MESSAGES."""
    missing, not_positive = MONEY_MESSAGES[what]
    if value is None:
        return str(missing)
    code = value.currency.code
    if code not in CURRENCY_EXPONENTS:
        return _("Coinsite does not sell coins in %(currency)s: use one of %(currencies)s.") % {
            "currency": code,
            "currencies": ", ".join(CURRENCY_EXPONENTS),
        }
    if value.amount <= 0:
        return str(not_positive)
    exponent = CURRENCY_EXPONENTS[code]
    if not allow_fractions and value.amount != value.amount.quantize(Decimal(1).scaleb(-exponent)):
        return ngettext(
            "%(currency)s has %(places)s decimal place; %(amount)s has more.",
            "%(currency)s has %(places)s decimal places; %(amount)s has more.",
            exponent,
        ) % {"currency": code, "places": exponent, "amount": value.amount}
    return None


class ReasonForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=300,
        label=gettext_lazy("Reason"),
        help_text=gettext_lazy("Recorded in the staff audit log, and shown to the user where it concerns them."),
    )


class CoinPackagePriceForm(forms.ModelForm):
    class Meta:
        model = CoinPackagePrice
        fields = ["package", "price"]

    def clean_price(self) -> Money | None:
        price = self.cleaned_data.get("price")
        if error := money_error(price, what="price"):
            raise forms.ValidationError(error)
        return price


class CoinRateForm(forms.ModelForm):
    class Meta:
        model = CoinRate
        fields = ["per_coin", "min_coins", "max_coins"]

    def clean_per_coin(self) -> Money | None:
        per_coin = self.cleaned_data.get("per_coin")
        if error := money_error(per_coin, what="price of one coin", allow_fractions=True):
            raise forms.ValidationError(error)
        return per_coin

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        low, high = cleaned.get("min_coins"), cleaned.get("max_coins")
        if low is not None and low < 1:
            self.add_error("min_coins", _("A custom amount is at least 1 coin."))
        elif low is not None and high is not None and high < low:
            self.add_error("max_coins", _("The largest custom amount cannot be below the smallest."))
        return cleaned


def _every_setting(model: type[SingletonModel]) -> list[str]:
    """Every editable field, so a setting added to the model later shows up without touching the admin."""
    return [
        field.name
        for field in model._meta.concrete_fields
        if field.editable and not field.primary_key and not field.name.endswith("_currency")
    ]


class EconomySettingsForm(forms.ModelForm):
    class Meta:
        model = EconomySettings
        fields = _every_setting(EconomySettings)

    def clean_diamond_value(self) -> Money | None:
        diamond = self.cleaned_data.get("diamond_value")
        error = money_error(diamond, what="diamond value", allow_fractions=True)  # also when it is missing
        if error or diamond is None:
            raise forms.ValidationError(error or "")
        payout_currency = PayoutSettings.load().payout_minimum.currency
        if diamond.currency != payout_currency:
            # Payout thresholds are compared with diamond values, so both must be in one currency.
            raise forms.ValidationError(
                _("The payout settings are in %(currency)s; keep the diamond value in %(currency)s.")
                % {"currency": payout_currency.code}
            )
        return diamond


class GiftingSettingsForm(forms.ModelForm):
    class Meta:
        model = GiftingSettings
        fields = _every_setting(GiftingSettings)

    def clean_gift_confirm_above_coins(self) -> int | None:
        confirm = self.cleaned_data.get("gift_confirm_above_coins")
        if confirm is not None and confirm < 1:
            raise forms.ValidationError(_("The large-gift confirmation threshold is at least 1 coin."))
        return confirm


class PayoutSettingsForm(forms.ModelForm):
    class Meta:
        model = PayoutSettings
        fields = _every_setting(PayoutSettings)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        self._check_money(cleaned)
        self._check_range(
            cleaned, "earnings_hold_days", EARNINGS_HOLD_DAYS, _("Choose between %(low)s and %(high)s days.")
        )
        hours = _("Choose between %(low)s and %(high)s hours.")
        self._check_range(cleaned, "payout_method_hold_hours", PAYOUT_METHOD_HOLD_HOURS, hours)
        self._check_range(cleaned, "exchange_rate_max_age_hours", EXCHANGE_RATE_MAX_AGE_HOURS, hours)
        return cleaned

    def _check_money(self, cleaned: dict[str, Any]) -> None:
        diamond = EconomySettings.load().diamond_value
        minimum, approval = cleaned.get("payout_minimum"), cleaned.get("payout_approval_above")
        for name, value in (("payout_minimum", minimum), ("payout_approval_above", approval)):
            if value is None:
                continue
            if value.currency != diamond.currency:
                self.add_error(
                    name, _("Use the diamond value's currency, %(currency)s.") % {"currency": diamond.currency.code}
                )
            elif value.amount <= 0:
                self.add_error(name, _("This must be more than zero."))
        if (
            minimum is not None
            and approval is not None
            and minimum.currency == approval.currency
            and approval < minimum
        ):
            self.add_error("payout_approval_above", _("The approval threshold cannot be below the payout minimum."))

    def _check_range(self, cleaned: dict[str, Any], name: str, bounds: tuple[int, int], message: str) -> None:
        """`message` names the unit and takes %(low)s and %(high)s."""
        value = cleaned.get(name)
        low, high = bounds
        if value is not None and not low <= value <= high:
            self.add_error(name, message % {"low": low, "high": high})


class AdjustmentRequestForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.order_by("email"),
        label=gettext_lazy("User"),
        help_text=gettext_lazy("Type an email address or a name to find them."),
    )
    asset = forms.ChoiceField(choices=Asset.choices, label=gettext_lazy("Asset"))
    amount = forms.IntegerField(
        label=gettext_lazy("Amount"), help_text=gettext_lazy("Positive adds to the balance, negative takes from it.")
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=1000, label=gettext_lazy("Reason"))

    def __init__(self, *args: Any, admin_site: AdminSite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Admin's own autocomplete (select2, searching UserAdmin.search_fields), as autocomplete_fields
        # gives a model form: staff pick a person by email or name, not a raw id.
        user = self.fields["user"]
        user.widget = AutocompleteSelect(Adjustment._meta.get_field("user"), admin_site)
        user.widget.choices = user.choices  # type: ignore[attr-defined]  # as a ModelChoiceField sets its own widget's


class GiftForm(forms.ModelForm):
    """Gift.clean checks the shape of the country list; this checks the price and that every country exists."""

    class Meta:
        model = Gift
        fields = ["name", "slug", "coin_cost", "artwork", "tier", "is_active", "countries", "sort_order"]

    def clean_coin_cost(self) -> int | None:
        coin_cost = self.cleaned_data.get("coin_cost")
        if coin_cost is not None and coin_cost < 1:
            raise forms.ValidationError(_("A gift costs at least 1 coin."))
        return coin_cost

    def clean_countries(self) -> object:
        countries = self.cleaned_data.get("countries")
        if isinstance(countries, list) and all(isinstance(code, str) for code in countries):
            countries = [code.strip().upper() for code in countries]
            unknown = sorted(
                set(countries) - set(Country.objects.filter(code__in=countries).values_list("code", flat=True))
            )
            if unknown:
                raise forms.ValidationError(
                    _(
                        "Unknown country codes: %(codes)s. Add the country first, or leave the list empty for "
                        "everywhere."
                    )
                    % {"codes": ", ".join(unknown)}
                )
            return sorted(set(countries))
        return countries


class RateForm(forms.ModelForm):
    class Meta:
        model = Rate
        fields = ["backend", "currency", "value"]

    def clean_currency(self) -> str:
        currency = (self.cleaned_data.get("currency") or "").strip().upper()
        if currency not in CURRENCY_EXPONENTS:
            raise forms.ValidationError(
                _("Payouts are made in %(currencies)s only.") % {"currencies": ", ".join(CURRENCY_EXPONENTS)}
            )
        return currency

    def clean_value(self) -> Decimal | None:
        value = self.cleaned_data.get("value")
        if value is not None and value <= 0:
            raise forms.ValidationError(_("A rate is more than zero (units of the currency per one base unit)."))
        return value


class StatementRunStartForm(forms.Form):
    """Which month's statements to send now: one of the last twelve months that have ended."""

    month = forms.TypedChoiceField(
        label=gettext_lazy("Month"), coerce=datetime.date.fromisoformat, choices=lambda: _ended_months(12)
    )


def _ended_months(count: int) -> list[tuple[str, str]]:
    month, months = previous_month(current_month()), []
    for _index in range(count):
        months.append((month.isoformat(), format_month_local(month)))
        month = previous_month(month)
    return months
