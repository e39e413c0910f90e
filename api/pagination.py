"""Cursor pagination for the API's lists: newest first, keyed on (a time, the row id).

A cursor names the position of the last item a client saw: `<microseconds since 1970>-<id>` (clients treat
it as opaque). Every string of that shape (CURSOR_PATTERN, which the OpenAPI document declares) is a
valid position, so a page after any of them answers 200; anything else is refused before this code runs.
A page reads `limit + 1` rows through the list's (time, id) index, whatever page it is.
"""

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, Q, QuerySet
from ninja import Query

from coinsite.lib.errors import CoinsiteError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
CURSOR_PATTERN = r"^([0-9]{1,16}-[0-9]{1,18})?$"
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def cursor_query() -> Any:
    """The `cursor` query parameter as every list declares it."""
    return Query(None, pattern=CURSOR_PATTERN, description="`next_cursor` of the previous page; omit for the first")


def limit_query() -> Any:
    return Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page")


@dataclass(frozen=True)
class Position:
    at: datetime.datetime
    id: int


def cursor_encode(at: datetime.datetime, row_id: int) -> str:
    return f"{(at - _EPOCH) // datetime.timedelta(microseconds=1)}-{row_id}"


def cursor_decode(cursor: str | None) -> Position | None:
    """The position a client's cursor names, None for the first page; raises CoinsiteError when it is not one."""
    if not cursor:
        return None
    micros, _dash, row_id = cursor.partition("-")
    if not (micros.isdigit() and row_id.isdigit() and len(micros) <= 16 and len(row_id) <= 18):
        raise CoinsiteError("invalid_cursor")
    return Position(at=_EPOCH + datetime.timedelta(microseconds=int(micros)), id=int(row_id))


@dataclass(frozen=True)
class Page[Item]:
    items: list[Item]
    next_cursor: str | None


def page_of[Row: Model](queryset: QuerySet[Row], *, time_field: str, cursor: str | None, limit: int) -> Page[Row]:
    """One page of `queryset`, newest first by (`time_field`, id), after `cursor`."""
    position = cursor_decode(cursor)
    limit = max(1, min(limit, MAX_LIMIT))
    rows = queryset.order_by(f"-{time_field}", "-id")
    if position is not None:
        rows = rows.filter(
            Q(**{f"{time_field}__lt": position.at}) | Q(**{time_field: position.at, "id__lt": position.id})
        )
    found = list(rows[: limit + 1])
    items = found[:limit]
    next_cursor = cursor_encode(getattr(items[-1], time_field), items[-1].pk) if len(found) > limit else None
    return Page(items=items, next_cursor=next_cursor)


def page_mapped[Item](page: Page[Any], convert: Callable[[Sequence[Any]], list[Item]]) -> dict[str, Any]:
    """The page as the API answers it: converted items and the cursor of the next page (null on the last)."""
    return {"items": convert(page.items), "next_cursor": page.next_cursor}
