"""`{% gift_names_json %}`: the starting catalogue's gift names in the active language, as JSON for live.js.

A live event carries the gift's stored name, serialized once for every viewer whatever their language; the page
gives static/js/live.js this map (stored name → the reader's) to show it as the rest of the page does.
"""

import json

from django import template

from coinsite.lib.l10n import gift_name_local
from gifting.models import starting_gift_names

register = template.Library()


@register.simple_tag
def gift_names_json() -> str:
    """{"Ice Cream": "Eis", ...}: only the names that read differently in the active language."""
    shown = {name: gift_name_local(name) for name in starting_gift_names()}
    return json.dumps({name: local for name, local in shown.items() if local != name})
