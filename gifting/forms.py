"""Forms for the live pages: sending a gift, going live, a stream goal, leaderboard visibility."""

import secrets

from django import forms

from gifting.services import MAX_KEY_LENGTH, MAX_QUANTITY


def new_idempotency_key() -> str:
    """A fresh request id for one gift form: a double click or a retry posts it twice, the service charges once."""
    return secrets.token_urlsafe(16)


class GiftSendForm(forms.Form):
    gift = forms.IntegerField(min_value=1, error_messages={"required": "Pick a gift to send.",
                                                           "invalid": "Pick a gift to send."})
    quantity = forms.IntegerField(min_value=1, max_value=MAX_QUANTITY, initial=1, error_messages={
        "required": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
        "invalid": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
        "min_value": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
        "max_value": f"Choose a quantity from 1 to {MAX_QUANTITY}.",
    })
    anonymous = forms.BooleanField(required=False, label="Send anonymously")
    idempotency_key = forms.CharField(max_length=MAX_KEY_LENGTH, widget=forms.HiddenInput, error_messages={
        "required": "The gift request is missing its request id; reload the page and try again."})
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def first_error(self) -> str:
        return next(iter(error for errors in self.errors.values() for error in errors))


class GoLiveForm(forms.Form):
    title = forms.CharField(max_length=120, label="Stream title")
    stream_url = forms.CharField(required=False, max_length=200, label="Stream link (optional)",
                                 help_text="A video address viewers can play, e.g. https://…/live.m3u8")
    goal_coins = forms.IntegerField(required=False, min_value=1, max_value=2_000_000_000,
                                    label="Goal in coins (optional)")
    goal_label = forms.CharField(required=False, max_length=80, label="What the goal is for (optional)")


class GoalForm(forms.Form):
    goal_coins = forms.IntegerField(required=False, min_value=1, max_value=2_000_000_000, label="Goal in coins",
                                    help_text="Leave empty to clear the goal.")
    goal_label = forms.CharField(required=False, max_length=80, label="What the goal is for")


class GiftingPreferencesForm(forms.Form):
    hide_from_leaderboards = forms.BooleanField(required=False, label="Hide me from stream leaderboards")
    next = forms.CharField(required=False, widget=forms.HiddenInput)
