"""Statements as CSV: one line per item (gift day, supporter, payout, recharge, gift) plus totals.

Text cells go through `coinsite.lib.spreadsheets.csv_text`, so a stream title or a display name
can never run as a spreadsheet formula.
"""

import datetime
from collections.abc import Iterable

from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from djmoney.money import Money

from coinsite.lib.dates import next_month
from coinsite.lib.spreadsheets import csv_lines, csv_text
from payouts.models import Payout
from payouts.statements.selectors import CreatorStatement, Statement, ViewerStatement
from wallet.money import amount_string

# Translators: the column names of the statement CSV; the "section" column's values (balance, gifts, total…)
# stay untranslated codes, for spreadsheets and scripts that filter on them.
CSV_HEADER = [
    pgettext_lazy("statement CSV column", "section"),
    pgettext_lazy("statement CSV column", "date"),
    pgettext_lazy("statement CSV column", "description"),
    pgettext_lazy("statement CSV column", "count"),
    pgettext_lazy("statement CSV column", "coins"),
    pgettext_lazy("statement CSV column", "diamonds"),
    pgettext_lazy("statement CSV column", "amount"),
    pgettext_lazy("statement CSV column", "currency"),
]


def statement_csv(statement: Statement) -> str:
    """The statement as CSV: one line per item (gift day, supporter, payout, recharge, gift) plus totals."""
    rows = _creator_rows(statement) if isinstance(statement, CreatorStatement) else _viewer_rows(statement)
    return "".join(csv_lines([CSV_HEADER, *([csv_text(row[0]), row[1], csv_text(row[2]), *row[3:]] for row in rows)]))


def statement_filename(statement: Statement) -> str:
    return f"coinsite-{statement.kind}-statement-{statement.month:%Y-%m}.csv"


def _money_cells(money: Money | None) -> list[str]:
    return ["", ""] if money is None else [amount_string(money), money.currency.code]


def _diamond_row(
    statement: CreatorStatement,
    section: str,
    day: str,
    text: str,
    diamonds: int,
    count: object = "",
    coins: object = "",
) -> list[object]:
    return [section, day, text, count, "", diamonds, *_money_cells(statement.valuation.diamonds(diamonds))]


def _creator_rows(statement: CreatorStatement) -> Iterable[list]:
    first, last = statement.month.isoformat(), (next_month(statement.month) - datetime.timedelta(days=1)).isoformat()
    yield _diamond_row(statement, "balance", first, _("Diamonds at the start of the month"), statement.diamonds_start)
    for line in statement.gift_days:
        yield [
            "gifts",
            line.day.isoformat(),
            line.stream_title,
            line.gifts,
            line.coins,
            line.diamonds,
            *_money_cells(line.value),
        ]
    for supporter in statement.supporters:
        yield [
            "supporter",
            "",
            supporter.name,
            supporter.gifts,
            supporter.coins,
            supporter.diamonds,
            *_money_cells(supporter.value),
        ]
    for clawback_line in statement.clawbacks:
        clawback = clawback_line.clawback
        yield [
            "clawback",
            _day(clawback.at),
            clawback.source,
            "",
            "",
            -clawback.diamonds,
            *_money_cells(-clawback_line.value),
        ]
    for payout_line in statement.payouts:
        yield from _payout_rows(payout_line.payout, payout_line.value)
    yield [
        "total",
        last,
        _("Coins received"),
        statement.gifts,
        statement.coins_received,
        "",
        *_money_cells(statement.coins_received_value),
    ]
    yield _diamond_row(statement, "total", last, _("Diamonds earned"), statement.diamonds_earned, count=statement.gifts)
    yield _diamond_row(statement, "total", last, _("Diamonds requested for payout"), statement.diamonds_requested)
    yield _diamond_row(statement, "total", last, _("Diamonds returned from payouts"), statement.diamonds_returned)
    if statement.clawbacks:
        yield _diamond_row(statement, "total", last, _("Diamonds clawed back"), -statement.diamonds_clawed_back)
    if statement.diamonds_other:
        yield _diamond_row(statement, "total", last, _("Other changes (adjustments)"), statement.diamonds_other)
    for label, amounts in (
        (_("Payouts paid: gross"), statement.paid_gross),
        (_("Payouts paid: fees"), statement.paid_fees),
        (_("Payouts paid: net paid out"), statement.paid_net),
    ):
        for amount in amounts:
            yield ["total", last, label, "", "", statement.paid_diamonds, *_money_cells(amount)]
    yield _diamond_row(statement, "balance", last, _("Diamonds at the end of the month"), statement.diamonds_end)


def _payout_rows(payout: Payout, value: Money) -> Iterable[list]:
    day = payout.requested_at.astimezone(datetime.UTC).date().isoformat()
    text = _("Payout %(id)s (%(status)s)") % {"id": payout.public_id, "status": payout.get_status_display()}
    yield ["payout", day, text, 1, "", payout.diamonds, *_money_cells(value)]
    if payout.gross is not None and payout.exchange_rate is not None:  # converted: both are stored together
        converted = _("Payout %(id)s converted at %(rate)s %(source)s→%(target)s") % {
            "id": payout.public_id,
            "rate": f"{payout.exchange_rate.normalize():f}",
            "source": payout.value.currency.code,
            "target": payout.currency,
        }
        if payout.value.currency.code == payout.currency:  # nothing was converted
            converted = _("Payout %(id)s") % {"id": payout.public_id}
        yield [
            "payout-gross",
            day,
            converted,
            "",
            "",
            "",
            *_money_cells(payout.gross),
        ]
        yield [
            "payout-fee",
            day,
            _("Payout %(id)s fee") % {"id": payout.public_id},
            "",
            "",
            "",
            *_money_cells(payout.fee),
        ]
        yield [
            "payout-net",
            day,
            _("Payout %(id)s net") % {"id": payout.public_id},
            "",
            "",
            "",
            *_money_cells(payout.net),
        ]


def _viewer_rows(statement: ViewerStatement) -> Iterable[list]:
    first, last = statement.month.isoformat(), (next_month(statement.month) - datetime.timedelta(days=1)).isoformat()
    yield _coin_row(statement, "balance", first, _("Coins at the start of the month"), statement.coins_start)
    for recharge in statement.recharges:
        topup = recharge.topup
        yield [
            "recharge",
            _day(topup.completed_at or topup.created_at),  # a succeeded top-up always has completed_at
            _("Recharge %(id)s") % {"id": topup.public_id},
            1,
            topup.total_coins,
            "",
            *_money_cells(topup.amount),
        ]
    for gift_line in statement.gifts:
        event = gift_line.event
        names = {"quantity": event.quantity, "gift": event.gift.display_name, "creator": event.creator.display_name}
        text = (
            _("%(quantity)s x %(gift)s to %(creator)s (sent anonymously)") % names
            if event.is_anonymous
            else _("%(quantity)s x %(gift)s to %(creator)s") % names
        )
        yield ["gift", _day(event.created_at), text, event.quantity, event.coins, "", *_money_cells(gift_line.value)]
    yield [
        "total",
        last,
        _("Recharges"),
        len(statement.recharges),
        statement.recharged_coins,
        "",
        *_money_cells(statement.recharged_coins_value),
    ]
    for amount in statement.recharged_money:
        yield ["total", last, _("Recharges: paid"), len(statement.recharges), "", "", *_money_cells(amount)]
    yield [
        "total",
        last,
        _("Gifts sent"),
        statement.gift_count,
        statement.gifts_coins,
        "",
        *_money_cells(statement.gifts_value),
    ]
    for reversal in statement.reversals:
        topup = reversal.topup
        assert topup.reversed_at is not None  # a reversal line is a reversed top-up
        if topup.reversal == "refund":
            text = _("Recharge %(id)s refunded") % {"id": topup.public_id}
        else:
            text = _("Recharge %(id)s charged back") % {"id": topup.public_id}
        if reversal.owed:
            # Translators: the line above, then how many of its coins were already spent.
            text = _("%(line)s (%(coins)s coins already spent, owed)") % {"line": text, "coins": reversal.owed}
        yield _coin_row(statement, "reversal", _day(topup.reversed_at), text, -reversal.taken_back)
    if statement.debt_paid_back:
        yield _coin_row(statement, "total", last, _("Owed coins paid back from recharges"), -statement.debt_paid_back)
    if statement.coins_other:
        yield _coin_row(statement, "total", last, _("Other changes (corrections)"), statement.coins_other)
    yield _coin_row(statement, "balance", last, _("Coins at the end of the month"), statement.coins_end)


def _coin_row(statement: ViewerStatement, section: str, day: str, text: str, coins: int) -> list[object]:
    value = statement.valuation.coins(coins, statement.currency)
    return [section, day, text, "", coins, "", *_money_cells(value)]


def _day(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).date().isoformat()
