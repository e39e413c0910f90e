import datetime
from typing import Any

from django import forms
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy, ngettext

from coinsite.accounts import services
from coinsite.accounts.models import CreatorCategory, User
from coinsite.lib.currencies import DEFAULT_CURRENCY, currency_choices
from coinsite.lib.l10n import country_choices, language_choices, language_or_default, time_zone_choices

MINIMUM_SIGNUP_AGE = 13


class ProfileSignupForm(forms.Form):
    """Extra sign-up fields; allauth adds email and password and calls ``signup``."""

    display_name = forms.CharField(
        label=gettext_lazy("Display name"),
        max_length=60,
        help_text=gettext_lazy("Shown to creators and on leaderboards."),
    )
    country = forms.ChoiceField(label=gettext_lazy("Country"), choices=country_choices, initial="US")
    birth_date = forms.DateField(
        label=gettext_lazy("Birth date"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy(
            "You must be 13 or older to join, and an adult where you live (18 in most countries) to buy coins "
            "or send gifts."
        ),
    )
    preferred_currency = forms.ChoiceField(
        label=gettext_lazy("Preferred currency"), choices=currency_choices, initial=DEFAULT_CURRENCY
    )

    def clean_display_name(self) -> str:
        name = self.cleaned_data["display_name"].strip()
        if not name:
            raise forms.ValidationError(gettext_lazy("Enter a display name."))
        return name

    def clean_birth_date(self) -> datetime.date:
        born = self.cleaned_data["birth_date"]
        today = timezone.localdate()
        if born > today:
            raise forms.ValidationError(gettext_lazy("Your birth date cannot be in the future."))
        if born < datetime.date(1900, 1, 1):
            raise forms.ValidationError(gettext_lazy("Enter your real birth date."))
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if age < MINIMUM_SIGNUP_AGE:
            raise forms.ValidationError(
                ngettext(
                    "You must be at least %(age)d year old to join Coinsite.",
                    "You must be at least %(age)d years old to join Coinsite.",
                    MINIMUM_SIGNUP_AGE,
                )
                % {"age": MINIMUM_SIGNUP_AGE}
            )
        return born

    def signup(self, request: HttpRequest, user: User) -> None:
        """allauth's hook after it created the user: save the profile fields asked for here, and the
        language the sign-up page was shown in (the browser's, or the one chosen in the footer)."""
        services.profile_update(
            user=user,
            language=language_or_default(translation.get_language()),
            **{
                name: self.cleaned_data[name]
                for name in ("display_name", "country", "birth_date", "preferred_currency")
            },
        )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Authentication code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True, "spellcheck": "false"}
        ),
        help_text=gettext_lazy("The 6-digit code from your authenticator app, or one of your backup codes."),
    )


class EnrollForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your app"),
        max_length=6,
        min_length=6,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "pattern": "[0-9]{6}", "autofocus": True}
        ),
    )


class ConfirmIdentityForm(forms.Form):
    """Sudo re-check: the password, or a 2FA code (a code is required once 2FA is on)."""

    password = forms.CharField(
        label=gettext_lazy("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        required=False,
    )
    code = forms.CharField(
        label=gettext_lazy("Authentication code"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def __init__(self, *args: Any, code_required: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].required = code_required
        self.fields["password"].required = not code_required


class ProfileForm(forms.Form):
    """The profile a person edits; language and time zone left out of a submission stay as they are."""

    display_name = forms.CharField(label=gettext_lazy("Display name"), max_length=60)
    country = forms.ChoiceField(label=gettext_lazy("Country"), choices=country_choices)
    preferred_currency = forms.ChoiceField(label=gettext_lazy("Preferred currency"), choices=currency_choices)
    language = forms.ChoiceField(
        label=gettext_lazy("Language"),
        choices=language_choices,
        required=False,
        help_text=gettext_lazy("Pages and emails, including your statements, are in this language."),
    )
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Time zone"),
        choices=time_zone_choices,
        required=False,
        help_text=gettext_lazy("Dates and times on the site and in emails are shown in this zone."),
    )


class EmailCodeForm(forms.Form):
    """The one-time code mailed to a staff member before their first authenticator (staff_enrollment)."""

    code = forms.CharField(
        label=gettext_lazy("Code from the email"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class CreatorApplicationForm(forms.Form):
    """What a viewer tells us to become a creator (their country and age are on their profile already)."""

    display_name = forms.CharField(
        label=gettext_lazy("Creator name"),
        max_length=60,
        help_text=gettext_lazy("Viewers see it on your streams and profile. It becomes your display name."),
    )
    category = forms.ChoiceField(label=gettext_lazy("What you stream"), choices=CreatorCategory.choices)
    description = forms.CharField(
        label=gettext_lazy("Tell us about your streams"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("What viewers will see, how often you plan to go live, and in which language."),
    )
    link = forms.URLField(
        label=gettext_lazy("Where you stream or post today"),
        required=False,
        max_length=200,
        assume_scheme="https",
        help_text=gettext_lazy("A channel or profile address, if you have one."),
    )
    rules_accepted = forms.BooleanField(
        label=gettext_lazy(
            "I am 18 or older, I own or have the rights to what I stream, and I follow the community rules."
        ),
    )

    def clean_display_name(self) -> str:
        name = " ".join(self.cleaned_data["display_name"].split())
        if not name:
            raise forms.ValidationError(gettext_lazy("Enter the name viewers will see."))
        return name

    def clean_link(self) -> str:
        link = self.cleaned_data["link"]
        if link and not link.startswith("https://"):
            raise forms.ValidationError(gettext_lazy("Enter an https:// address."))
        return link
