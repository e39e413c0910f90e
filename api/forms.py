"""Forms for the token and webhook pages."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from api.models import Scope, WebhookEvent
from api.tokens import EXPIRY_DAYS, NAME_MAX_LENGTH
from api.webhooks import URL_MAX_LENGTH


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=NAME_MAX_LENGTH, label=_("Name"), help_text=_("What uses it, e.g. “Alert box on my stream PC”.")
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        label=_("What it may do"),
        error_messages={"required": _("Choose at least one scope.")},
    )
    expires_in_days = forms.TypedChoiceField(
        coerce=int,
        choices=[
            (days, ngettext_lazy("%(count)d day", "%(count)d days", days) % {"count": days}) for days in EXPIRY_DAYS
        ],
        initial=90,
        label=_("Expires after"),
    )


class WebhookEndpointForm(forms.Form):
    url = forms.CharField(
        max_length=URL_MAX_LENGTH, label=_("Endpoint URL"), help_text=_("An https:// address that accepts POST.")
    )
    event_types = forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        label=_("Events"),
        error_messages={"required": _("Choose at least one event.")},
    )
