"""Numbers, dates and time zones for people, in the active language and the active time zone.

Django activates both per request: `LocaleMiddleware` picks the language (cookie, else the
browser's Accept-Language, else English), then `coinsite.accounts.middleware.UserLocaleMiddleware`
applies a signed-in person's saved language and time zone. Emails switch to their recipient's
(`coinsite.lib.email.recipient_locale`). The formats are Babel's (CLDR), so "1 500" in French and
"16 nov. 2026" are what a French reader expects; money is `wallet.money.format_money`, built on this.
"""

import datetime
import functools
import zoneinfo

from babel.dates import format_date, format_skeleton, format_time, get_datetime_format, get_timezone_location
from babel.numbers import format_decimal
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext_noop, ngettext_lazy, pgettext
from django_countries import countries

DEFAULT_TIME_ZONE = "UTC"
# Django's own messages that its catalogues lack in a language the site speaks: the blank choice of every select
# (new in Django 6.0) read English in German, Spanish, Italian, Japanese, Korean, Dutch and Portuguese, and so did
# the admin's "Run", "Logout", "Filter by …" and others in some of them. Marked here so that makemessages keeps
# them in locale/, which Django reads before its own catalogues (where Django has one, ours is Django's wording).
DJANGO_MESSAGES_UNTRANSLATED = [
    gettext_noop("- Select an option -"),
    gettext_noop(
        "Deleting the %(object_name)s “%(escaped_object)s” would result in deleting related objects, but your account "
        "doesn't have permission to delete the following types of objects:"
    ),
    gettext_noop(", "),
    gettext_noop("Add link"),
    gettext_noop("After you’ve created a user, you’ll be able to edit more user options."),  # noqa: RUF001
    gettext_noop(
        "Are you sure you want to delete the %(object_name)s “%(escaped_object)s”? All of the following related items "
        "will be deleted:"
    ),
    gettext_noop("Change or view list link"),
    gettext_noop(
        "Deleting the %(object_name)s “%(escaped_object)s” would require deleting the following protected related "
        "objects:"
    ),
    gettext_noop("Disable password-based authentication"),
    gettext_noop("Enable password-based authentication"),
    gettext_noop("Error:"),
    gettext_noop("Filter by %(field_name)s"),
    gettext_noop("Forgotten your login credentials?"),
    gettext_noop("In case you’ve forgotten, you are:"),  # noqa: RUF001
    gettext_noop("Logout"),
    gettext_noop("Model name"),
    gettext_noop("Pagination %(name)s entries"),
    gettext_noop("Pagination %(name)s"),
    gettext_noop("Run"),
    gettext_noop("Search %(name)s"),
    gettext_noop("Set password"),
    gettext_noop('The app "%s" could not be found.'),
    gettext_noop("This action will <strong>enable</strong> password-based authentication for this user."),
    # The admin's delete confirmations end a long list of related objects with this (plural, so lazy, unevaluated).
    ngettext_lazy("…and %(count)d more object.", "…and %(count)d more objects.", "count"),
]
# The IANA areas people live in; the rest of the database is legacy aliases ("US/Eastern", "Etc/GMT+5").
TIME_ZONE_AREAS = frozenset(
    {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}
)


def active_locale() -> str:
    """The Babel locale of the active language ("fr", "pt_BR"); English when none is active."""
    return translation.to_locale(translation.get_language() or settings.LANGUAGE_CODE)


def language_or_default(code: str | None) -> str:
    """`code` when the site speaks it (settings.LANGUAGES), else the default language."""
    return code if code and code in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def language_choices() -> list[tuple[str, str]]:
    """(code, name) for every language of the site, each named in itself ("Français", "日本語"), as a chooser
    lists them: a reader finds their own language whichever language the page is in."""
    names = ((code, translation.get_language_info(code)["name_local"]) for code, _name in settings.LANGUAGES)
    return [(code, name[:1].upper() + name[1:]) for code, name in names]


def country_choices() -> list[tuple[str, str]]:
    """(code, name) for every country, named and sorted in the active language (django-countries' catalogues).

    A form field takes this callable: given `countries` itself, Django turns it into a list once, at import,
    in English."""
    return [(country.code, str(country.name)) for country in countries]


def format_count(number: int) -> str:
    """A whole number (coins, diamonds) grouped the locale's way: "1,500", "1 500", "1.500".

    Babel's answer, which costs about 8 µs a number in a tight loop and more inside a request: a page shows a
    hundred (the creator dashboard), a gift tap two. Where Babel's grouping for the locale is Python's own, every
    three digits, only with the locale's separator and minus sign (checked once per locale, `_plain_grouping`),
    Python groups it instead.
    """
    locale = active_locale()
    plain = _plain_grouping(locale) if type(number) is int else None
    if plain is None:
        return format_decimal(number, locale=locale)
    separator, minus = plain
    grouped = f"{abs(number):,}".replace(",", separator)
    return minus + grouped if number < 0 else grouped


# Numbers whose formatting shows how a locale groups digits and writes a minus sign.
_GROUPING_SAMPLES = (0, 7, -7, 999, 1_000, -1_000, 12_345, 123_456, 1_234_567, -98_765_432, 10**15 + 1)


@functools.cache
def _plain_grouping(locale: str) -> tuple[str, str] | None:
    """(separator, minus sign) when Babel writes `locale`'s whole numbers as Python's "{:,}" with these, else None
    (a locale that groups otherwise, as Indian ones do: "12,34,567"): every sample must come out the same."""
    separator = format_decimal(1_000, locale=locale)[1:-3]
    minus = format_decimal(-7, locale=locale)[:-1]
    for number in _GROUPING_SAMPLES:
        grouped = f"{abs(number):,}".replace(",", separator)
        if (minus + grouped if number < 0 else grouped) != format_decimal(number, locale=locale):
            return None
    return separator, minus


# --- Dates and times --------------------------------------------------------------------------------


def format_datetime_local(moment: datetime.datetime) -> str:
    """A moment in the active time zone, the locale's medium date and short time, and which zone:
    "Nov 16, 2026, 9:05 AM (UTC)", "16 nov. 2026, 10:05 (Paris)", "2026/11/16 18:05 (ソウル)"."""
    local = timezone.localtime(moment)
    locale = active_locale()
    # How Babel joins a date and a time itself (format_datetime), with a short time: no seconds.
    text = (
        str(get_datetime_format("medium", locale=locale))
        .replace("'", "")
        .replace("{0}", format_time(local, "short", tzinfo=local.tzinfo, locale=locale))
        .replace("{1}", format_date(local.date(), "medium", locale=locale))
    )
    return f"{text} ({zone_label(local)})"


def format_time_local(moment: datetime.datetime) -> str:
    """The time of day of a moment in the active time zone, and which zone: "1:00 AM (Paris)", "01:00 (Paris)"."""
    local = timezone.localtime(moment)
    return f"{format_time(local, 'short', tzinfo=local.tzinfo, locale=active_locale())} ({zone_label(local)})"


def format_date_local(value: datetime.date) -> str:
    """A day in the locale's medium style ("Nov 16, 2026", "16 nov. 2026", "16.11.2026"); a moment's day is
    the day in the active time zone."""
    day = timezone.localtime(value).date() if isinstance(value, datetime.datetime) else value
    return format_date(day, "medium", locale=active_locale())


def format_month_local(value: datetime.date) -> str:
    """A month and year: "November 2026", "novembre 2026", "2026年11月"."""
    day = timezone.localtime(value).date() if isinstance(value, datetime.datetime) else value
    return format_skeleton("yMMMM", day, locale=active_locale())


def zone_label(moment: datetime.datetime) -> str:
    """The zone a local moment is in, by its city in the active language ("Paris", "Séoul", "UTC")."""
    return get_timezone_location(moment.tzinfo, locale=active_locale(), return_city=True)


# --- Time zones people choose -----------------------------------------------------------------------


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """UTC, then every IANA zone of a place people live, by name (read from the tz database once)."""
    names = (name for name in zoneinfo.available_timezones() if name.split("/", 1)[0] in TIME_ZONE_AREAS)
    return (DEFAULT_TIME_ZONE, *sorted(name for name in names if "/" in name))


def time_zone_choices() -> list[tuple[str, str]]:
    """(name, "Europe/Paris (UTC+01:00)") for every zone, with the offset it has now."""
    now = timezone.now()
    zones = time_zone_names()[1:]
    return [(DEFAULT_TIME_ZONE, DEFAULT_TIME_ZONE)] + [
        (name, f"{name.replace('_', ' ')} (UTC{_offset(now, name)})") for name in zones
    ]


def time_zone(name: str | None) -> zoneinfo.ZoneInfo:
    """The named zone, or UTC when the name is empty or unknown (a tz database update can retire a name)."""
    try:
        return zoneinfo.ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(DEFAULT_TIME_ZONE)


def _offset(now: datetime.datetime, name: str) -> str:
    offset = now.astimezone(zoneinfo.ZoneInfo(name)).strftime("%z")  # "+0100"
    return f"{offset[:3]}:{offset[3:]}"


GIFT_NAME_CONTEXT = "gift name"


def gift_name_local(name: str) -> str:
    """A gift's name in the active language when it is one of the starting catalogue's (marked in
    `gifting.models.STARTING_GIFT_NAMES`), else as staff typed it. Live events, the API and the ledger's memo
    keep the stored name: they are the same for every reader."""
    return pgettext(GIFT_NAME_CONTEXT, name)
