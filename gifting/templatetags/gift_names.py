"""`{% gift_names_json %}`: the starting catalogue's gift names in the active language, as JSON for live.js.

A live event carries the gift's stored name, serialized once for every viewer whatever their language; the page
gives static/js/live.js this map (stored name → the reader's) to show it as the rest of the page does.
"""

import json

from django import template
from django.utils.translation import override

from gifting.models import STARTING_GIFT_NAMES

register = template.Library()


@register.simple_tag
def gift_names_json() -> str:
    """{"Ice Cream": "Eis", ...}: only the names that read differently in the active language."""
    with override("en"):
        stored = [str(name) for name in STARTING_GIFT_NAMES]
    local = [str(name) for name in STARTING_GIFT_NAMES]
    return json.dumps({name: shown for name, shown in zip(stored, local, strict=True) if shown != name})
