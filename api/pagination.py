"""Cursor pagination for the API's lists: newest first, keyed on (a time, the row id).

A cursor is opaque to clients (url-safe base64 of the position of the last item they saw); a page
after it reads `limit + 1` rows through the list's (time, id) index, whatever page it is. A cursor
that does not decode is a 400 `invalid_cursor`, never a 500.
"""

import base64
import binascii
import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from coinsite.lib.errors import CoinsiteError

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
Row = TypeVar("Row", bound=Model)


@dataclass(frozen=True)
class Position:
    at: datetime.datetime
    id: int


def cursor_encode(at: datetime.datetime, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def cursor_decode(cursor: str | None) -> Position | None:
    """The position a client's cursor names, None for the first page; raises CoinsiteError when it is not ours."""
    if not cursor:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, row_id = text.split("|")
        position = Position(at=datetime.datetime.fromisoformat(at), id=int(row_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise CoinsiteError("invalid_cursor") from None
    if position.at.tzinfo is None or not 0 < position.id < 2**63:
        raise CoinsiteError("invalid_cursor")
    return position


@dataclass(frozen=True)
class Page[Item]:
    items: list[Item]
    next_cursor: str | None


def page_of(queryset: QuerySet[Row], *, time_field: str, cursor: str | None, limit: int) -> Page[Row]:
    """One page of `queryset`, newest first by (`time_field`, id), after `cursor`."""
    position = cursor_decode(cursor)
    limit = max(1, min(limit, MAX_LIMIT))
    rows = queryset.order_by(f"-{time_field}", "-id")
    if position is not None:
        rows = rows.filter(Q(**{f"{time_field}__lt": position.at}) | Q(**{time_field: position.at, "id__lt": position.id}))
    found = list(rows[: limit + 1])
    items = found[:limit]
    next_cursor = cursor_encode(getattr(items[-1], time_field), items[-1].pk) if len(found) > limit else None
    return Page(items=items, next_cursor=next_cursor)


def page_mapped[Item](page: Page[Any], convert: Callable[[Sequence[Any]], list[Item]]) -> dict[str, Any]:
    """The page as the API answers it: converted items and the cursor of the next page (null on the last)."""
    return {"items": convert(page.items), "next_cursor": page.next_cursor}
