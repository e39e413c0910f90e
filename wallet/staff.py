"""Staff operations on wallets: freezes, balance corrections with four-eyes approval, the coin side
of refunds and chargebacks, and settling what viewers owe.

Balances are never edited: every change is a ledger transaction with a reason, and every staff
action is written to the staff audit log in the same database transaction (docs/design.md §3 "Staff").
Refunds and chargebacks of top-ups are started from `backoffice.services.topup_reverse`, which
also claws back the creators' held diamonds (wallet imports neither gifting nor payouts).
"""

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from coinsite.accounts.models import User
from coinsite.accounts.staff_audit import model_snapshot, staff_action_record
from coinsite.lib.l10n import format_count
from coinsite.lib.tasks import task_enqueue_on_commit
from wallet import ledger
from wallet.models import (
    Adjustment,
    AdjustmentStatus,
    Asset,
    CoinReceivable,
    LedgerAccount,
    SystemAccount,
    TopUp,
    TopUpStatus,
    WalletFreeze,
)
from wallet.selectors import economy

logger = logging.getLogger(__name__)

REVERSAL_KINDS = {"refund": "Refunded", "chargeback": "Charged back"}


class StaffOperationError(Exception):
    """The operation did not happen and nothing was written; ``str(error)`` tells staff why."""


def _check_staff(staff: User) -> None:
    if staff is None or not staff.is_staff:
        raise StaffOperationError(gettext("Only staff can do this."))


def _clean_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise StaffOperationError(gettext("Give a reason: it is recorded and, for freezes, shown to the user."))
    return reason[:300]


# --- Freezes --------------------------------------------------------------------------------------


def wallet_freeze(*, user: User, staff: User, reason: str) -> WalletFreeze:
    """Freeze the user's wallet: no recharges, gifts or payout requests; they are shown the reason."""
    _check_staff(staff)
    reason = _clean_reason(reason)
    with transaction.atomic(durable=True):
        freeze, _created = WalletFreeze.objects.update_or_create(
            user=user, defaults={"reason": reason, "frozen_by": staff, "frozen_at": timezone.now()}
        )
        staff_action_record(actor=staff, action="wallet.freeze", target=user, after={"reason": reason}, reason=reason)
    logger.info("Wallet of user %s frozen by staff %s", user.pk, staff.pk)
    return freeze


def wallet_unfreeze(*, user: User, staff: User, reason: str) -> bool:
    """Lift a wallet freeze; False if the wallet was not frozen."""
    _check_staff(staff)
    reason = _clean_reason(reason)
    with transaction.atomic(durable=True):
        freeze = WalletFreeze.objects.select_for_update().filter(user=user).first()
        if freeze is None:
            return False
        staff_action_record(
            actor=staff, action="wallet.unfreeze", target=user, before={"reason": freeze.reason}, reason=reason
        )
        freeze.delete()
    return True


def account_freeze(*, user: User, staff: User, reason: str) -> None:
    """Freeze the whole account: the user can no longer log in (and their wallet is frozen); they get an email."""
    _check_staff(staff)
    reason = _clean_reason(reason)
    if user.pk == staff.pk:
        raise StaffOperationError(gettext("Staff cannot freeze their own account."))
    with transaction.atomic(durable=True):
        before = {"is_active": user.is_active}
        User.objects.filter(pk=user.pk).update(is_active=False)
        # Frozen again (a new reason) is news again: the notice is due anew.
        freeze = {"reason": reason, "frozen_by": staff, "frozen_at": timezone.now(), "notice_pending": True}
        WalletFreeze.objects.update_or_create(user=user, defaults=freeze)
        staff_action_record(
            actor=staff,
            action="account.freeze",
            target=user,
            before=before,
            after={"is_active": False, "reason": reason},
            reason=reason,
        )
        user_id = user.pk
        # Deferred import: wallet.tasks imports the wallet services, which import this module.
        from wallet.tasks import account_frozen_email  # noqa: PLC0415

        # robust: the freeze holds whatever the broker says; a notice whose task never ran is sent by the sweep.
        task_enqueue_on_commit(account_frozen_email, user_id)
    user.is_active = False


def account_frozen_notice_claim(*, user_id: int) -> bool:
    """Claim the right to tell a user why their account was frozen; True for exactly one caller, and for none
    once the freeze was lifted."""
    return WalletFreeze.objects.filter(pk=user_id, notice_pending=True).update(notice_pending=False) == 1


def account_frozen_notice_release(*, user_id: int) -> None:
    """Give a claimed freeze notice back after a failed send, so a retry can send it."""
    WalletFreeze.objects.filter(pk=user_id).update(notice_pending=True)


def account_unfreeze(*, user: User, staff: User, reason: str) -> None:
    _check_staff(staff)
    reason = _clean_reason(reason)
    with transaction.atomic(durable=True):
        User.objects.filter(pk=user.pk).update(is_active=True)
        WalletFreeze.objects.filter(user=user).delete()
        staff_action_record(
            actor=staff, action="account.unfreeze", target=user, after={"is_active": True}, reason=reason
        )
    user.is_active = True


# --- Corrections ----------------------------------------------------------------------------------


def adjustment_request(*, staff: User, user: User, asset: str, amount: int, reason: str) -> Adjustment:
    """Correct a user's balance by `amount` (signed); posted at once up to the staff-set size, else pending.

    A pending adjustment needs `adjustment_approve` by another staff member.
    """
    _check_staff(staff)
    reason = _clean_reason(reason)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0 or abs(amount) > ledger.MAX_AMOUNT:
        raise StaffOperationError(gettext("The correction is a non-zero whole number of coins or diamonds."))
    if asset not in Asset.values:
        raise StaffOperationError(gettext("Choose coins or diamonds."))
    if asset == Asset.DIAMOND and not user.is_creator:
        raise StaffOperationError(gettext("Only creators hold diamonds."))
    with transaction.atomic(durable=True):
        adjustment = Adjustment.objects.create(user=user, asset=asset, amount=amount, reason=reason, requested_by=staff)
        staff_action_record(
            actor=staff, action="adjustment.request", target=adjustment, after=model_snapshot(adjustment), reason=reason
        )
        if abs(amount) <= economy().adjustment_approval_above:
            _post_adjustment(adjustment, reviewer=None)
    return adjustment


def adjustment_approve(*, adjustment_id: int, staff: User) -> Adjustment:
    """Post a pending adjustment: by a staff member other than its requester (four eyes)."""
    _check_staff(staff)
    with transaction.atomic(durable=True):
        adjustment = Adjustment.objects.select_for_update().get(pk=adjustment_id)
        _check_reviewable(adjustment, staff)
        before = model_snapshot(adjustment)
        _post_adjustment(adjustment, reviewer=staff)
        staff_action_record(
            actor=staff,
            action="adjustment.approve",
            target=adjustment,
            before=before,
            after=model_snapshot(adjustment),
            reason=adjustment.reason,
        )
    return adjustment


def adjustment_reject(*, adjustment_id: int, staff: User, reason: str) -> Adjustment:
    _check_staff(staff)
    reason = _clean_reason(reason)
    with transaction.atomic(durable=True):
        adjustment = Adjustment.objects.select_for_update().get(pk=adjustment_id)
        _check_reviewable(adjustment, staff)
        before = model_snapshot(adjustment)
        adjustment.status, adjustment.reviewed_by, adjustment.reviewed_at = (
            AdjustmentStatus.REJECTED,
            staff,
            timezone.now(),
        )
        adjustment.save(update_fields=["status", "reviewed_by", "reviewed_at"])
        staff_action_record(
            actor=staff,
            action="adjustment.reject",
            target=adjustment,
            before=before,
            after=model_snapshot(adjustment),
            reason=reason,
        )
    return adjustment


def _check_reviewable(adjustment: Adjustment, staff: User) -> None:
    if adjustment.status != AdjustmentStatus.PENDING:
        # Translators: status is the adjustment's status in lower case, e.g. "posted" or "rejected"
        raise StaffOperationError(
            gettext("This adjustment is %(status)s already.") % {"status": adjustment.get_status_display().lower()}
        )
    if adjustment.requested_by_id == staff.pk:
        raise StaffOperationError(gettext("A second staff member must approve this adjustment, not the one who asked."))


def _post_adjustment(adjustment: Adjustment, *, reviewer: User | None) -> None:
    account = ledger.account_for_user(adjustment.user, adjustment.asset)
    issuing = ledger.system_account(ledger.ISSUING_ACCOUNT[Asset(adjustment.asset)])
    source, destination = (issuing, account) if adjustment.amount > 0 else (account, issuing)
    try:
        posting = ledger.ledger_move(
            source=source,
            destination=destination,
            asset=adjustment.asset,
            amount=abs(adjustment.amount),
            idempotency_key=f"adjustment:{adjustment.pk}",
            kind="adjustment",
            memo=adjustment.reason[:200],
            metadata={"adjustment": adjustment.pk},
            durable=False,
        )
    except ledger.InsufficientFunds as error:
        raise StaffOperationError(
            gettext("The user has only %(available)s to take from; the correction would make the balance negative.")
            % {"available": format_count(error.available)}
        ) from None
    adjustment.status, adjustment.ledger_transaction = AdjustmentStatus.POSTED, posting
    adjustment.reviewed_by, adjustment.reviewed_at = reviewer, timezone.now() if reviewer else None
    adjustment.save(update_fields=["status", "ledger_transaction", "reviewed_by", "reviewed_at"])


# --- Refunds and chargebacks: the coin side -------------------------------------------------------


@dataclass(frozen=True)
class CoinReversal:
    topup: TopUp
    clawed_back: int  # coins taken back from the viewer's wallet
    shortfall: int  # coins already spent, now owed (a CoinReceivable)


def topup_reverse_coins(*, topup_id: int, staff: User, kind: str, reason: str) -> CoinReversal:
    """Take back a refunded or charged-back top-up's coins, never below zero: what is left is a receivable.

    Runs inside the caller's durable transaction (backoffice.services.topup_reverse), locking the
    top-up and then the viewer's coin wallet; a second reversal of the same top-up is refused.
    """
    _check_staff(staff)
    reason = _clean_reason(reason)
    if kind not in REVERSAL_KINDS:
        raise StaffOperationError(gettext("Choose refund or chargeback."))
    topup = TopUp.objects.select_for_update().select_related("user").get(pk=topup_id)
    if topup.status != TopUpStatus.SUCCEEDED:
        raise StaffOperationError(gettext("Only a paid top-up can be refunded or charged back."))
    if topup.reversal:
        # Translators: reversal is "refunded" or "charged back"
        raise StaffOperationError(
            gettext("This top-up was %(reversal)s already.") % {"reversal": topup.get_reversal_display().lower()}
        )
    wallet = ledger.account_for_user(topup.user, Asset.COIN)
    balance = LedgerAccount.objects.select_for_update(no_key=True).values_list("balance", flat=True).get(pk=wallet.pk)
    coins = topup.total_coins
    clawed_back = min(balance, coins)
    shortfall = coins - clawed_back
    # The wallet shows the whole reversal: coins already spent come in as owed (the receivable)
    # before the top-up's coins go out, so the history has a row even when nothing was left to
    # take, and no balance shown along the way is below zero. Net, the wallet loses `clawed_back`.
    lines = [(ledger.system_account(SystemAccount.COINS_ISSUED), Asset.COIN, coins)]
    if shortfall:
        lines.append((ledger.system_account(SystemAccount.COINS_RECEIVABLE), Asset.COIN, -shortfall))
        lines.append((wallet, Asset.COIN, shortfall))
    lines.append((wallet, Asset.COIN, -coins))
    posting = ledger.ledger_post(
        idempotency_key=f"topup:{topup.public_id}:{kind}",
        kind=f"topup.{kind}",
        lines=lines,
        memo=f"{REVERSAL_KINDS[kind]}: {reason}"[:200],
        metadata={"topup": str(topup.public_id), "clawed_back": clawed_back, "shortfall": shortfall},
    )
    before = model_snapshot(topup)
    topup.reversal, topup.reversal_reason, topup.reversed_at = kind, reason, timezone.now()
    topup.reversal_transaction = posting
    topup.save(update_fields=["reversal", "reversal_reason", "reversed_at", "reversal_transaction", "updated_at"])
    if shortfall:
        CoinReceivable.objects.create(user=topup.user, topup=topup, coins=shortfall)
    staff_action_record(
        actor=staff,
        action=f"topup.{kind}",
        target=topup,
        before=before,
        after={**(model_snapshot(topup) or {}), "clawed_back": clawed_back, "shortfall": shortfall},
        reason=reason,
    )
    return CoinReversal(topup=topup, clawed_back=clawed_back, shortfall=shortfall)


def receivables_settle(*, user: User) -> int:
    """Pay what the user owes from their coin wallet, oldest debt first; returns the coins settled.

    Called in the top-up's crediting transaction, so a viewer who recharges after a chargeback
    settles the debt before they can spend again. Runs inside the caller's transaction.
    """
    open_debts = list(
        CoinReceivable.objects.select_for_update()
        .filter(user=user, settled_at__isnull=True)
        .order_by("created_at", "pk")
    )
    if not open_debts:
        return 0
    wallet = ledger.account_for_user(user, Asset.COIN)
    balance = LedgerAccount.objects.select_for_update(no_key=True).values_list("balance", flat=True).get(pk=wallet.pk)
    settled_total = 0
    for debt in open_debts:
        amount = min(balance - settled_total, debt.outstanding)
        if amount <= 0:
            break
        ledger.ledger_move(
            source=wallet,
            destination=ledger.system_account(SystemAccount.COINS_RECEIVABLE),
            asset=Asset.COIN,
            amount=amount,
            kind="receivable.settle",
            idempotency_key=f"receivable:{debt.pk}:{debt.settled_coins}",
            memo="Settles coins owed after a refund or chargeback",
            durable=False,
            metadata={"receivable": debt.pk},
        )
        debt.settled_coins += amount
        debt.settled_at = timezone.now() if debt.settled_coins == debt.coins else None
        debt.save(update_fields=["settled_coins", "settled_at"])
        settled_total += amount
    return settled_total
