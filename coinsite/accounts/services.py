"""Writes to a person's own account: their profile (two-factor devices are in `two_factor`)."""

import datetime

from coinsite.accounts.models import User


def profile_update(
    *,
    user: User,
    display_name: str,
    preferred_currency: str,
    country: str | None = None,
    birth_date: datetime.date | None = None,
) -> User:
    """Save the profile fields a person controls (birth date only when given: it is set at sign-up).

    The country is given only at sign-up: later changes wait out a cooling-off
    (`coinsite.accounts.country.country_change_request`), so regional rules cannot be bypassed.

    The values come validated from a form (`ProfileForm`, `ProfileSignupForm`); only the fields
    named here are written, so a stale copy of the user cannot undo another change.
    """
    fields: dict[str, object] = {"display_name": display_name, "preferred_currency": preferred_currency}
    if country is not None:
        fields["country"] = country
    if birth_date is not None:
        fields["birth_date"] = birth_date
    for name, value in fields.items():
        setattr(user, name, value)
    if user.pk is None:
        user.save()
    else:
        user.save(update_fields=list(fields))
    return user
