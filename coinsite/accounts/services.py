"""Writes to a person's own account: their profile (two-factor devices are in `two_factor`)."""

import datetime

from django.conf import settings

from coinsite.accounts.models import User
from coinsite.lib.l10n import time_zone_names


class ProfileError(ValueError):
    """A profile value outside its choices; nothing was saved."""


def profile_update(
    *,
    user: User,
    display_name: str,
    preferred_currency: str,
    country: str | None = None,
    birth_date: datetime.date | None = None,
    language: str | None = None,
    time_zone: str | None = None,
) -> User:
    """Save the profile fields a person controls (birth date only when given: it is set at sign-up;
    language and time zone only when given).

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
    if language is not None:
        fields["language"] = _checked_language(language)
    if time_zone is not None:
        fields["time_zone"] = _checked_time_zone(time_zone)
    for name, value in fields.items():
        setattr(user, name, value)
    if user.pk is None:
        user.save()
    else:
        user.save(update_fields=list(fields))
    return user


def profile_language_set(*, user: User, language: str) -> User:
    """Save the language a person chose (the footer's chooser); one of settings.LANGUAGES, or ProfileError."""
    user.language = _checked_language(language)
    user.save(update_fields=["language"])
    return user


def _checked_language(language: str) -> str:
    if language not in dict(settings.LANGUAGES):
        raise ProfileError(f"{language!r} is not one of the site's languages.")
    return language


def _checked_time_zone(time_zone: str) -> str:
    if time_zone not in time_zone_names():
        raise ProfileError(f"{time_zone!r} is not a time zone people can choose.")
    return time_zone
