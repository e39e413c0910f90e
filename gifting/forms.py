"""Forms for the live pages: sending a gift, going live, a stream goal, gifting preferences, a creator's profile."""

import secrets
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from gifting.models import AVATAR_CHOICES
from gifting.services import BIO_MAX_LENGTH, MAX_KEY_LENGTH, MAX_QUANTITY


def new_idempotency_key() -> str:
    """A fresh request id for one gift form: a double click or a retry posts it twice, the service charges once."""
    return secrets.token_urlsafe(16)


class GiftSendForm(forms.Form):
    gift = forms.IntegerField(
        min_value=1, error_messages={"required": "Pick a gift to send.", "invalid": "Pick a gift to send."}
    )
    quantity = forms.IntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        initial=1,
        error_messages={
            "required": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
            "invalid": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
            "min_value": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
            "max_value": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
        },
    )
    anonymous = forms.BooleanField(required=False, label="Send anonymously")
    idempotency_key = forms.CharField(
        max_length=MAX_KEY_LENGTH,
        widget=forms.HiddenInput,
        error_messages={"required": "The gift request is missing its request id; reload the page and try again."},
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def first_error(self) -> str:
        return str(next(iter(error for errors in self.errors.values() for error in errors)))


class GoLiveForm(forms.Form):
    title = forms.CharField(max_length=120, label="Stream title")
    stream_url = forms.CharField(
        required=False,
        max_length=200,
        label=gettext_lazy("Stream link"),
        help_text="A video address viewers can play, e.g. https://…/live.m3u8",
    )
    goal_coins = forms.IntegerField(
        required=False, min_value=1, max_value=2_000_000_000, label=gettext_lazy("Goal in coins")
    )
    goal_label = forms.CharField(required=False, max_length=80, label=gettext_lazy("What the goal is for"))


class GoalForm(forms.Form):
    goal_coins = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=2_000_000_000,
        label="Goal in coins",
        help_text="Leave empty to clear the goal.",
    )
    goal_label = forms.CharField(required=False, max_length=80, label="What the goal is for")


class GiftingPreferencesForm(forms.Form):
    hide_from_leaderboards = forms.BooleanField(required=False, label="Hide me from stream leaderboards")
    confirm_above_coins = forms.IntegerField(
        required=False,
        label="Ask me to confirm gifts over (coins)",
        error_messages={
            "invalid": "Enter a whole number of coins, or leave it empty.",
            "min_value": "Enter at least 1 coin, or leave it empty.",
        },
        min_value=1,
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, staff_threshold: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff_threshold = staff_threshold
        field = self.fields["confirm_above_coins"]
        field.widget.attrs.update({"max": staff_threshold})
        field.help_text = (
            "Gifts costing more than this ask you to confirm first. Leave it empty to use the "
            "site's threshold; yours can only be lower."
        )

    def clean_confirm_above_coins(self) -> int | None:
        coins = self.cleaned_data.get("confirm_above_coins")
        if coins is not None and coins > self.staff_threshold:
            raise forms.ValidationError(
                f"Enter at most {self.staff_threshold:,} coins (the site's threshold), or leave it empty."
            )
        return coins


class CreatorProfileForm(forms.Form):
    bio = forms.CharField(
        required=False,
        max_length=BIO_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Bio",
        help_text=f"Shown on your public profile; up to {BIO_MAX_LENGTH} characters.",
    )
    avatar = forms.ChoiceField(
        required=False,
        choices=[("", "None (show my initials)"), *AVATAR_CHOICES],
        widget=forms.RadioSelect,
        label="Avatar",
        error_messages={"invalid_choice": "Choose one of the avatars shown, or none."},
    )
