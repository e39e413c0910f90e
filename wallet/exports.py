"""The coin history as CSV: streamed row by row, text cells safe to open in a spreadsheet."""

import datetime
import itertools
from collections.abc import Iterable, Iterator

from django.utils.translation import gettext, pgettext

from coinsite.lib.spreadsheets import csv_lines, csv_text
from wallet.money import amount_string
from wallet.selectors import HistoryRow
from wallet.valuation import Valuation


def history_csv_lines(rows: Iterable[HistoryRow], *, valuation: Valuation, currency: str) -> Iterator[str]:
    """A header, then one CSV line per history row with its money value in `currency`; lazy, so a
    streaming response never holds the whole history."""
    header = [
        gettext("Date (UTC)"),
        pgettext("coin history", "Type"),
        gettext("Description"),
        gettext("Coins"),
        gettext("Balance after"),
        gettext("Value (%(currency)s)") % {"currency": currency},
    ]
    return csv_lines(itertools.chain([header], (_row(row, valuation, currency) for row in rows)))


def history_csv_filename(*, kind: str, date_from: datetime.date | None, date_to: datetime.date | None) -> str:
    parts = ["coinsite-wallet-history"]
    if kind:
        parts.append(kind)
    if date_from:
        parts.append(f"from-{date_from:%Y-%m-%d}")
    if date_to:
        parts.append(f"to-{date_to:%Y-%m-%d}")
    return "-".join(parts) + ".csv"


def _row(row: HistoryRow, valuation: Valuation, currency: str) -> list[object]:
    value = valuation.coins(row.coins, currency)
    return [
        f"{row.created_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M:%S}",
        csv_text(row.type_label),
        csv_text(row.description),
        row.coins,
        row.balance_after,
        amount_string(value) if value is not None else "",
    ]
