import datetime
from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django_countries import countries
from django_countries.fields import LazyTypedChoiceField  # type: ignore[attr-defined]  # real, missing from its stubs

from coinsite.accounts import services
from coinsite.accounts.models import User
from coinsite.lib.currencies import DEFAULT_CURRENCY, currency_choices

MINIMUM_SIGNUP_AGE = 13


class ProfileSignupForm(forms.Form):
    """Extra sign-up fields; allauth adds email and password and calls ``signup``."""

    display_name = forms.CharField(max_length=60, help_text="Shown to creators and on leaderboards.")
    country = LazyTypedChoiceField(choices=countries, initial="US")
    birth_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="You must be 13 or older to join; 18 or older to buy coins.",
    )
    preferred_currency = forms.ChoiceField(choices=currency_choices, initial=DEFAULT_CURRENCY)

    def clean_display_name(self) -> str:
        name = self.cleaned_data["display_name"].strip()
        if not name:
            raise forms.ValidationError("Enter a display name.")
        return name

    def clean_birth_date(self) -> datetime.date:
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

    def signup(self, request: HttpRequest, user: User) -> None:
        """allauth's hook after it created the user: save the profile fields asked for here."""
        services.profile_update(
            user=user,
            **{
                name: self.cleaned_data[name]
                for name in ("display_name", "country", "birth_date", "preferred_currency")
            },
        )


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

    def __init__(self, *args: Any, code_required: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].required = code_required
        self.fields["password"].required = not code_required


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=60)
    country = LazyTypedChoiceField(choices=countries)
    preferred_currency = forms.ChoiceField(choices=currency_choices)


class EmailCodeForm(forms.Form):
    """The one-time code mailed to a staff member before their first authenticator (staff_enrollment)."""

    code = forms.CharField(
        label=gettext_lazy("Code from the email"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )
