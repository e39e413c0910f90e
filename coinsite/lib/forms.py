"""Forms on hot paths.

`fields_shared`: Django's `Form.__init__` deep-copies every declared field, so that one form may change
its own fields (choices, widget attributes) without changing the next request's. A form whose fields no
code changes can share them instead: the gift tap's form spent about 0.05 ms a request on those copies
(docs/scaling.md). A form so marked must never change `self.fields[...]` in place; it may still add or
remove fields, as the dict itself is copied.
"""

from typing import Any

from django import forms


class _SharedFields(dict[str, forms.Field]):
    """A form class's `base_fields` whose deep copy keeps the field objects themselves."""

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, forms.Field]:
        return dict(self)


def fields_shared[F: type[forms.Form]](form_class: F) -> F:
    """Class decorator: instances of `form_class` share its declared fields instead of copying them.

    Subclasses are unaffected (their metaclass builds plain `base_fields` again)."""
    form_class.base_fields = _SharedFields(form_class.base_fields)
    return form_class
