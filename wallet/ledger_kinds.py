"""What the wallet pages call each kind of ledger transaction, and which kinds spend a viewer's coins.

Wallet names the kinds it posts itself (recharges, corrections, refunds). Other apps post their own
kinds and register them from their AppConfig.ready() (gifting registers "gift", the one kind that
spends coins today), so the wallet shows and budgets them without importing those apps. Spending
services still take the kinds that count as an argument (`wallet.spending.spending_check(kinds=...)`):
these registrations are what the wallet's own pages pass.
"""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class HistoryType:
    """One choice of the history filter: a label and the ledger kinds it covers, in `order`."""

    key: str
    label: str | Promise
    kinds: frozenset[str]
    order: int


# The kinds the wallet posts itself (wallet.services, wallet.staff). A refunded or charged-back
# top-up posts `topup.refund` / `topup.chargeback`; coins owed after one are paid back by
# `receivable.settle` when the viewer next recharges.
REVERSAL_KINDS = frozenset({"topup.refund", "topup.chargeback", "receivable.settle"})

_history_types: dict[str, HistoryType] = {
    "recharge": HistoryType("recharge", _("Recharge"), frozenset({"topup"}), order=10),
    "correction": HistoryType("correction", _("Correction"), frozenset({"adjustment"}), order=30),
    "refund": HistoryType("refund", _("Refunds and chargebacks"), REVERSAL_KINDS | {"refund", "chargeback"}, order=40),
}
# What a viewer reads for a kind when it differs from its filter's label.
_kind_labels: dict[str, str | Promise] = {
    "topup.refund": _("Refund"),
    "topup.chargeback": _("Chargeback"),
    "receivable.settle": _("Debt paid back"),
    "refund": _("Refund"),
    "chargeback": _("Chargeback"),
}
_spending_kinds: set[str] = set()


def ledger_kind_register(*, kind: str, label: str | Promise, order: int, spends_coins: bool) -> None:
    """Show ledger `kind` in the wallet history as `label` (its own filter choice, placed by `order`),
    and count it against viewers' budgets if it `spends_coins`. Registering twice changes nothing."""
    _history_types[kind] = HistoryType(kind, label, frozenset({kind}), order)
    if spends_coins:
        _spending_kinds.add(kind)


def history_types() -> list[HistoryType]:
    return sorted(_history_types.values(), key=lambda history_type: history_type.order)


def history_label(kind: str) -> str:
    """What a viewer reads for a ledger kind: its own label, its history type's, or "Other" — never
    the internal name of the kind."""
    if kind in _kind_labels:
        return str(_kind_labels[kind])
    for history_type in _history_types.values():
        if kind in history_type.kinds:
            return str(history_type.label)
    return str(_("Other"))


def spending_kinds() -> frozenset[str]:
    """The ledger kinds that spend coins and count against budgets (as registered by the apps)."""
    return frozenset(_spending_kinds)
