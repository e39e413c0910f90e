import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy

from coinsite.accounts.models import COUNTRY_CHOICES, CURRENCY_CHOICES

MINIMUM_SIGNUP_AGE = 13


class ProfileSignupForm(forms.Form):
    """Extra sign-up fields; allauth adds email and password and calls ``signup``."""

    display_name = forms.CharField(max_length=60, help_text="Shown to creators and on leaderboards.")
    country = forms.ChoiceField(choices=COUNTRY_CHOICES, initial="US")
    birth_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="You must be 13 or older to join; 18 or older to buy coins.",
    )
    preferred_currency = forms.ChoiceField(choices=CURRENCY_CHOICES, initial="USD")

    def clean_display_name(self):
        name = self.cleaned_data["display_name"].strip()
        if not name:
            raise forms.ValidationError("Enter a display name.")
        return name

    def clean_birth_date(self):
        born = self.cleaned_data["birth_date"]
        today = timezone.localdate()
        if born > today:
            raise forms.ValidationError("Your birth date cannot be in the future.")
        if born < datetime.date(1900, 1, 1):
            raise forms.ValidationError("Enter your real birth date.")
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if age < MINIMUM_SIGNUP_AGE:
            raise forms.ValidationError(f"You must be at least {MINIMUM_SIGNUP_AGE} to join Coinsite.")
        return born

    def signup(self, request, user):
        user.display_name = self.cleaned_data["display_name"]
        user.country = self.cleaned_data["country"]
        user.birth_date = self.cleaned_data["birth_date"]
        user.preferred_currency = self.cleaned_data["preferred_currency"]
        user.save()


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Authentication code",
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True, "spellcheck": "false"}
        ),
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
    )


class EnrollForm(forms.Form):
    code = forms.CharField(
        label="Code from your app",
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]{6}", "autofocus": True}
        ),
    )


class ConfirmIdentityForm(forms.Form):
    """Sudo re-check: the password, or a 2FA code (a code is required once 2FA is on)."""

    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}), required=False)
    code = forms.CharField(
        label="Authentication code",
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def __init__(self, *args, code_required: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].required = code_required
        self.fields["password"].required = not code_required


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=60)
    country = forms.ChoiceField(choices=COUNTRY_CHOICES)
    preferred_currency = forms.ChoiceField(choices=CURRENCY_CHOICES)


class EmailCodeForm(forms.Form):
    """The one-time code mailed to a staff member before their first authenticator (staff_enrollment)."""

    code = forms.CharField(
        label=gettext_lazy("Code from the email"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )
