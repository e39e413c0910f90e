"""Forms for the live pages: sending a gift, going live, a stream goal, gifting preferences, a creator's profile."""

import secrets
from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from coinsite.lib.forms import fields_shared
from coinsite.lib.l10n import format_count
from gifting.models import AVATAR_CHOICES
from gifting.services import BIO_MAX_LENGTH, MAX_KEY_LENGTH, MAX_QUANTITY


def new_idempotency_key() -> str:
    """A fresh request id for one gift form: a double click or a retry posts it twice, the service charges once."""
    return secrets.token_urlsafe(16)


CHOOSE_QUANTITY = format_lazy(gettext_lazy("Choose a quantity from 1 to {maximum}."), maximum=MAX_QUANTITY)


@fields_shared  # every tap makes one; no code changes its fields
class GiftSendForm(forms.Form):
    gift = forms.IntegerField(
        min_value=1,
        error_messages={
            "required": gettext_lazy("Pick a gift to send."),
            "invalid": gettext_lazy("Pick a gift to send."),
        },
    )
    quantity = forms.IntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        initial=1,
        error_messages={
            "required": CHOOSE_QUANTITY,
            "invalid": CHOOSE_QUANTITY,
            "min_value": CHOOSE_QUANTITY,
            "max_value": CHOOSE_QUANTITY,
        },
    )
    anonymous = forms.BooleanField(required=False, label=gettext_lazy("Send anonymously"))
    idempotency_key = forms.CharField(
        max_length=MAX_KEY_LENGTH,
        widget=forms.HiddenInput,
        error_messages={
            "required": gettext_lazy("The gift request is missing its request id; reload the page and try again.")
        },
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # Length and characters are the service's to check (gifting.services.gift_send), with its messages.
    message = forms.CharField(required=False, strip=False)

    def first_error(self) -> str:
        return str(next(iter(error for errors in self.errors.values() for error in errors)))


class GoLiveForm(forms.Form):
    title = forms.CharField(max_length=120, label=gettext_lazy("Stream title"))
    stream_url = forms.CharField(
        required=False,
        max_length=200,
        label=gettext_lazy("Stream link"),
        help_text=gettext_lazy("A video address viewers can play, e.g. https://…/live.m3u8"),
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
        label=gettext_lazy("Goal in coins"),
        help_text=gettext_lazy("Leave empty to clear the goal."),
    )
    goal_label = forms.CharField(required=False, max_length=80, label=gettext_lazy("What the goal is for"))


class GiftingPreferencesForm(forms.Form):
    hide_from_leaderboards = forms.BooleanField(required=False, label=gettext_lazy("Hide me from stream leaderboards"))
    confirm_above_coins = forms.IntegerField(
        required=False,
        label=gettext_lazy("Ask me to confirm gifts over (coins)"),
        error_messages={
            "invalid": gettext_lazy("Enter a whole number of coins, or leave it empty."),
            "min_value": gettext_lazy("Enter at least 1 coin, or leave it empty."),
        },
        min_value=1,
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, staff_threshold: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff_threshold = staff_threshold
        field = self.fields["confirm_above_coins"]
        field.widget.attrs.update({"max": staff_threshold})
        field.help_text = _(
            "Gifts costing more than this ask you to confirm first. Leave it empty to use the "
            "site's threshold; yours can only be lower."
        )

    def clean_confirm_above_coins(self) -> int | None:
        coins = self.cleaned_data.get("confirm_above_coins")
        if coins is not None and coins > self.staff_threshold:
            raise forms.ValidationError(
                ngettext(
                    "Enter at most %(coins)s coin (the site's threshold), or leave it empty.",
                    "Enter at most %(coins)s coins (the site's threshold), or leave it empty.",
                    self.staff_threshold,
                )
                % {"coins": format_count(self.staff_threshold)}
            )
        return coins


class CreatorProfileForm(forms.Form):
    bio = forms.CharField(
        required=False,
        max_length=BIO_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 4}),
        label=gettext_lazy("Bio"),
        help_text=format_lazy(
            gettext_lazy("Shown on your public profile; up to {maximum} characters."), maximum=BIO_MAX_LENGTH
        ),
    )
    avatar = forms.ChoiceField(
        required=False,
        choices=[("", gettext_lazy("None (show my initials)")), *AVATAR_CHOICES],
        widget=forms.RadioSelect,
        label=gettext_lazy("Avatar"),
        error_messages={"invalid_choice": gettext_lazy("Choose one of the avatars shown, or none.")},
    )


class ChatSettingsForm(forms.Form):
    """The creator's chat rules: slow mode and blocked words (gifting.chat.chat_settings_update)."""

    slow_mode_seconds = forms.IntegerField(
        min_value=0,
        max_value=600,
        initial=0,
        label=gettext_lazy("Slow mode (seconds between one viewer's messages)"),
        help_text=gettext_lazy("0 turns slow mode off; up to 600 seconds."),
    )
    blocked_words = forms.CharField(
        required=False,
        max_length=12_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        label=gettext_lazy("Blocked words"),
        help_text=gettext_lazy(
            "One word or phrase a line. A message holding one as a whole word, in any case, is refused."
        ),
    )
