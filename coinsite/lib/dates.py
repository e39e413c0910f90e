"""Days and months in UTC, the one calendar the site uses for budgets, statements and reports.

People see these moments in their own time zone (`coinsite.lib.l10n`).
"""

import datetime
import re

from django.utils import timezone

MONTH_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")


def day_bounds(now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """Start and end (exclusive) of the UTC day containing `now`."""
    start = now.astimezone(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + datetime.timedelta(days=1)


def month_bounds(now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """Start and end (exclusive) of the UTC calendar month containing `now`."""
    start = day_bounds(now)[0].replace(day=1)
    end = (start + datetime.timedelta(days=32)).replace(day=1)
    return start, end


def month_start(month: datetime.date) -> datetime.datetime:
    """Midnight UTC on the first day of `month`."""
    return datetime.datetime(month.year, month.month, 1, tzinfo=datetime.UTC)


def next_month(month: datetime.date) -> datetime.date:
    return datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: datetime.date) -> datetime.date:
    return datetime.date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def current_month(now: datetime.datetime | None = None) -> datetime.date:
    """The first day of the UTC month containing `now` (default: now)."""
    today = (now or timezone.now()).astimezone(datetime.UTC).date()
    return today.replace(day=1)


def parse_month(text: str) -> datetime.date | None:
    """The first day of the month written "2026-11" (or "2026-11-01"), or None if it is not one."""
    match = MONTH_PATTERN.match((text or "")[:7]) if len(text or "") in (7, 10) else None
    if match is None or (len(text) == 10 and text[7:] != "-01"):
        return None
    year, month = int(match[1]), int(match[2])
    if not (2000 <= year <= 9998 and 1 <= month <= 12):
        return None
    return datetime.date(year, month, 1)
