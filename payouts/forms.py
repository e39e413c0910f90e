"""Forms for the creator pages: payout methods and payout requests."""

import secrets
from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from coinsite.lib.currencies import currency_choices
from payouts.models import PayoutMethod, PayoutMethodKind
from payouts.providers import provider_class
from payouts.services import MAX_KEY_LENGTH


def new_request_key() -> str:
    return secrets.token_urlsafe(16)


class PayoutMethodForm(forms.Form):
    kind = forms.ChoiceField(
        choices=PayoutMethodKind.choices, label=gettext_lazy("Payout method"), widget=forms.RadioSelect
    )
    holder_name = forms.CharField(max_length=100, label=gettext_lazy("Account holder's name"))
    currency = forms.ChoiceField(
        choices=currency_choices,
        label=gettext_lazy("Payout currency"),
        help_text=gettext_lazy("Your diamonds are converted into this currency at the stored rate."),
    )
    iban = forms.CharField(
        required=False, max_length=42, label=gettext_lazy("IBAN"), help_text=gettext_lazy("For a bank account.")
    )
    bic = forms.CharField(
        required=False,
        max_length=14,
        label=gettext_lazy("BIC (SWIFT code)"),
        help_text=gettext_lazy("For a bank account."),
    )
    paypal_email = forms.EmailField(
        required=False, label=gettext_lazy("PayPal email"), help_text=gettext_lazy("For PayPal.")
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Offer only what the payout provider can pay (PayPal payouts cannot pay a bank account).
        provider = provider_class()
        kind_field = cast(forms.ChoiceField, self.fields["kind"])
        kind_field.choices = [
            (kind, label) for kind, label in PayoutMethodKind.choices if kind in provider.method_kinds
        ]
        if provider.currencies is not None:
            currency_field = cast(forms.ChoiceField, self.fields["currency"])
            currency_field.choices = [
                (code, label) for code, label in currency_choices() if code in provider.currencies
            ]

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        kind = cleaned.get("kind")
        if kind == PayoutMethodKind.BANK and not (cleaned.get("iban") and cleaned.get("bic")):
            raise forms.ValidationError(_("A bank account needs its IBAN and BIC."))
        if kind == PayoutMethodKind.PAYPAL and not cleaned.get("paypal_email"):
            raise forms.ValidationError(_("PayPal needs the email address of your PayPal account."))
        return cleaned


class PayoutRequestForm(forms.Form):
    diamonds = forms.IntegerField(
        min_value=1,
        max_value=10**12,
        label=gettext_lazy("Diamonds to pay out"),
        error_messages={
            "required": gettext_lazy("Enter how many diamonds to pay out."),
            "invalid": gettext_lazy("Enter a whole number of diamonds."),
            "min_value": gettext_lazy("Enter a whole number of diamonds."),
        },
    )
    method = forms.TypedChoiceField(coerce=int, label=gettext_lazy("Pay to"), empty_value=None)
    idempotency_key = forms.CharField(max_length=MAX_KEY_LENGTH, widget=forms.HiddenInput)

    def __init__(self, *args: Any, methods: Iterable[PayoutMethod] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        method_field = cast(forms.TypedChoiceField, self.fields["method"])
        method_field.choices = [(method.pk, str(method)) for method in methods]
