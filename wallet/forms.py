from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from wallet.providers.base import PAYMENT_METHODS

PAYMENT_METHOD_LABELS = {
    "card": "Credit or debit card",
    "paypal": "PayPal",
    "google_pay": "Google Pay",
    "apple_pay": "Apple Pay",
    "carrier_billing": "Mobile carrier billing",
}
CUSTOM = "custom"


class RechargeForm(forms.Form):
    """Pick a package (by id) or a custom number of coins, and a payment method offered in the country."""

    choice = forms.CharField(error_messages={"required": "Choose a coin package or a custom amount."})
    custom_coins = forms.IntegerField(
        required=False,
        min_value=1,
        label="Number of coins",
        error_messages={"invalid": "Enter a whole number of coins."},
    )
    payment_method = forms.ChoiceField(
        choices=[(m, PAYMENT_METHOD_LABELS[m]) for m in PAYMENT_METHODS],
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose how you want to pay.",
            "invalid_choice": "Choose one of the payment methods offered in your country.",
        },
    )

    def __init__(self, *args, offer, **kwargs):
        super().__init__(*args, **kwargs)
        self.offer = offer
        self.fields["payment_method"].choices = [(m, PAYMENT_METHOD_LABELS[m]) for m in offer.payment_methods]
        if offer.rate is not None:
            self._limit_custom_coins(offer.rate.min_coins, offer.rate.max_coins)

    def _limit_custom_coins(self, min_coins: int, max_coins: int) -> None:
        # The validators are built when the field is, from the class's min_value=1; setting
        # min_value afterwards would change only the widget, so 0 and 29 got different messages.
        field = self.fields["custom_coins"]
        limits = f"Choose between {min_coins:,} and {max_coins:,} coins."
        field.min_value, field.max_value = min_coins, max_coins
        field.validators = [MinValueValidator(min_coins, message=limits), MaxValueValidator(max_coins, message=limits)]
        field.widget.attrs.update(min=min_coins, max=max_coins)

    def clean(self):
        cleaned = super().clean()
        choice = cleaned.get("choice")
        if choice == CUSTOM:
            if self.offer.rate is None:
                self.add_error("choice", "Custom amounts are not available in your currency.")
            elif cleaned.get("custom_coins") is None and "custom_coins" not in self.errors:
                self.add_error("custom_coins", "Enter how many coins you want to buy.")
            cleaned["package_id"] = None
        elif choice:
            package_ids = {str(item.package.pk): item.package.pk for item in self.offer.packages}
            if choice not in package_ids:
                self.add_error("choice", "That coin package is not available in your currency.")
            cleaned["package_id"] = package_ids.get(choice)
            cleaned["custom_coins"] = None
            # Browsers submit the number field whichever radio is picked: ignore a leftover value.
            self.errors.pop("custom_coins", None)
        return cleaned
