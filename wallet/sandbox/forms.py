"""What the payer types on the sandbox's hosted page. Only test values are accepted, and nothing
but a card's last four digits is ever kept."""

import datetime
import re

from django import forms
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

SUCCESS, DECLINED, CHALLENGE = "success", "declined", "challenge"

TEST_CARDS = {
    "4242424242424242": SUCCESS,
    "4000000000000002": DECLINED,
    "4000000000003220": CHALLENGE,
}
TEST_CARD_ERROR = gettext_lazy(
    "Use one of the test card numbers: 4242 4242 4242 4242 (payment succeeds), "
    "4000 0000 0000 0002 (payment is declined) or 4000 0000 0000 3220 (asks for an extra confirmation)."
)
TEST_CODES = {"000000": SUCCESS, "999999": DECLINED}
TEST_CODE_ERROR = gettext_lazy("Use a test code: 000000 approves the payment, 999999 declines it.")


class CardForm(forms.Form):
    card_number = forms.CharField(
        label=gettext_lazy("Card number"),
        max_length=30,
        help_text=gettext_lazy("Test cards only: 4242 4242 4242 4242, 4000 0000 0000 0002 or 4000 0000 0000 3220."),
        widget=forms.TextInput(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )
    expiry = forms.CharField(
        label=gettext_lazy("Expiry date (MM / YY)"),
        max_length=7,
        help_text=gettext_lazy("Any date in the future."),
        widget=forms.TextInput(attrs={"autocomplete": "cc-exp", "inputmode": "numeric", "placeholder": "MM / YY"}),
    )
    cvc = forms.CharField(
        label=gettext_lazy("Security code (CVC)"),
        max_length=4,
        help_text=gettext_lazy("Any 3 or 4 digits."),
        widget=forms.TextInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )

    def clean_card_number(self) -> str:
        digits = re.sub(r"[\s-]", "", self.cleaned_data["card_number"])
        if digits not in TEST_CARDS:
            raise forms.ValidationError(TEST_CARD_ERROR)
        return digits

    def clean_expiry(self) -> datetime.date:
        match = re.fullmatch(r"\s*(\d{1,2})\s*/?\s*(\d{2})\s*", self.cleaned_data["expiry"])
        month, year = (int(match[1]), 2000 + int(match[2])) if match else (0, 0)
        today = timezone.localdate()
        if not 1 <= month <= 12 or (year, month) < (today.year, today.month):
            raise forms.ValidationError(gettext("Enter a future expiry date as MM / YY, for example 12 / 34."))
        return datetime.date(year, month, 1)

    def clean_cvc(self) -> str:
        cvc = self.cleaned_data["cvc"].strip()
        if not re.fullmatch(r"\d{3,4}", cvc):
            raise forms.ValidationError(gettext("Enter the 3 or 4 digit security code."))
        return cvc

    @property
    def outcome(self) -> str:
        return TEST_CARDS[self.cleaned_data["card_number"]]

    @property
    def payer_detail(self) -> str:
        return gettext("Card ending %(digits)s") % {"digits": self.cleaned_data["card_number"][-4:]}


class CarrierBillingForm(forms.Form):
    phone = forms.CharField(
        label=gettext_lazy("Mobile number"),
        max_length=20,
        help_text=gettext_lazy("Any number works here; no text message is sent."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel", "placeholder": "+1 555 0100"}),
    )
    code = forms.CharField(
        label=gettext_lazy("Code from the text message"),
        max_length=6,
        help_text=gettext_lazy("Test codes: 000000 approves, 999999 declines."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def clean_phone(self) -> str:
        phone = re.sub(r"[\s().-]", "", self.cleaned_data["phone"])
        if not re.fullmatch(r"\+?\d{7,15}", phone):
            raise forms.ValidationError(gettext("Enter a phone number of 7 to 15 digits, for example +1 555 0100."))
        return phone

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        if code not in TEST_CODES:
            raise forms.ValidationError(TEST_CODE_ERROR)
        return code

    @property
    def outcome(self) -> str:
        return TEST_CODES[self.cleaned_data["code"]]

    @property
    def payer_detail(self) -> str:
        return gettext("Phone ending %(digits)s") % {"digits": self.cleaned_data["phone"][-4:]}
