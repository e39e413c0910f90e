"""Payout operations: payout methods, requests, staff review, conversion, settlement.

The diamonds of a payout move to the clearing account when it is requested, so they leave the
creator's available balance at once; they leave clearing exactly once, to diamonds redeemed when
the provider pays, or back to the creator when it fails or staff reject it (docs/design.md §3). Each
step re-checks the payout's status under its row lock and returns early if it was already done,
so re-delivered tasks and replayed provider notices change nothing (docs/design.md §5).
"""

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal
from types import ModuleType

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext
from djmoney.money import Money

from coinsite.accounts.models import User
from coinsite.accounts.staff_audit import model_snapshot, staff_action_record
from coinsite.lib.currencies import CURRENCIES
from coinsite.lib.email import resend_due
from coinsite.lib.l10n import format_count, format_datetime_local
from coinsite.lib.locks import LockClass, advisory_lock
from coinsite.lib.tasks import task_enqueue_on_commit
from payouts import exchange, providers
from payouts.earnings import diamond_balances
from payouts.models import Payout, PayoutMethod, PayoutMethodKind, PayoutSettings, PayoutStatus
from payouts.selectors import method_hold_end, payouts_held_until
from payouts.validation import InvalidDetails, normalise_bic, normalise_iban
from wallet.ledger import account_for_user, ledger_move, system_account
from wallet.models import Asset, LedgerAccount, SystemAccount
from wallet.money import format_money, quantize
from wallet.selectors import wallet_freeze_reason
from wallet.valuation import Valuation

logger = logging.getLogger(__name__)

# What each method costs the creator: a share of the converted amount plus, for a bank, a fixed part in
# the payout currency (`coinsite.lib.currencies`). Shown on the payout page before the creator confirms.
FEE_RATES = {PayoutMethodKind.BANK: Decimal("0.0025"), PayoutMethodKind.PAYPAL: Decimal("0.02")}
MAX_KEY_LENGTH = 100


class PayoutError(Exception):
    """The operation did not happen and nothing was written; ``str(error)`` is for the user."""


@dataclass(frozen=True)
class Quote:
    """What a payout of `value` becomes in the method's currency (the page shows it before confirming)."""

    gross: Money
    fee: Money
    net: Money
    rate: Decimal
    rates_updated_at: datetime.datetime


# --- Payout methods -------------------------------------------------------------------------------


def payout_method_add(
    *,
    creator: User,
    kind: str,
    holder_name: str,
    currency: str,
    iban: str = "",
    bic: str = "",
    paypal_email: str = "",
    replaces: PayoutMethod | None = None,
) -> PayoutMethod:
    """Add a payout method (or replace one: the old one is retired), starting the payout hold.

    The caller must have checked 2FA freshly (the view does). Payouts are held for the staff-set
    hours after any change and the creator is told by email, so a hijacked account cannot
    quietly redirect money.
    """
    details = _method_details(
        kind=kind, holder_name=holder_name, currency=currency, iban=iban, bic=bic, paypal_email=paypal_email
    )
    refusal = providers.method_refusal(kind=kind, currency=currency)
    if refusal:
        raise PayoutError(refusal)
    with transaction.atomic(durable=True):
        if replaces is not None:
            retired = PayoutMethod.objects.filter(pk=replaces.pk, creator=creator, retired_at__isnull=True).update(
                retired_at=timezone.now()
            )
            if not retired:
                raise PayoutError(_("That payout method no longer exists."))
        method = PayoutMethod.objects.create(creator=creator, **details)
        _payout_currency_follow(creator)
        # robust: the method is saved whatever the broker says; a notice whose task never ran is sent by the sweep.
        task_enqueue_on_commit(_tasks().payout_email_method_changed, method.pk)
    logger.info("Payout method %s added for creator %s", method.pk, creator.pk)
    return method


def payout_method_retire(*, creator: User, method: PayoutMethod) -> None:
    """Remove a payout method; payouts already requested to it go ahead."""
    with transaction.atomic(durable=True):
        PayoutMethod.objects.filter(pk=method.pk, creator=creator, retired_at__isnull=True).update(
            retired_at=timezone.now()
        )
        _payout_currency_follow(creator)


def _payout_currency_follow(creator: User) -> None:
    """The creator's pages show amounts in the currency of their newest active method (none: their preferred)."""
    newest = (
        PayoutMethod.objects.filter(creator=creator, retired_at__isnull=True)
        .order_by("-created_at", "-id")
        .values_list("currency", flat=True)
        .first()
    )
    User.objects.filter(pk=creator.pk).update(payout_currency=newest or "")
    creator.payout_currency = newest or ""


def _method_details(*, kind: str, holder_name: str, currency: str, iban: str, bic: str, paypal_email: str) -> dict:
    holder_name = " ".join((holder_name or "").split())
    if not holder_name or len(holder_name) > 100:
        raise PayoutError(_("Enter the account holder's name as the bank or PayPal knows it."))
    if currency not in CURRENCIES:
        raise PayoutError(_("Choose a payout currency from the list."))
    if kind == PayoutMethodKind.BANK:
        try:
            iban = normalise_iban(iban)
            bic = normalise_bic(bic, iban=iban)
        except InvalidDetails as error:
            raise PayoutError(str(error)) from None
        return {"kind": kind, "holder_name": holder_name, "currency": currency, "iban": iban, "bic": bic}
    if kind == PayoutMethodKind.PAYPAL:
        email = (paypal_email or "").strip().lower()
        if "@" not in email or len(email) > 254:
            raise PayoutError(_("Enter the email address of your PayPal account."))
        return {"kind": kind, "holder_name": holder_name, "currency": currency, "paypal_email": email}
    raise PayoutError(_("Choose a bank account or PayPal."))


# --- Quotes, fees and rounding --------------------------------------------------------------------


def payout_fee(kind: str, gross: Money) -> Money:
    """The method's fee on `gross`, rounded once in the payout currency, never more than `gross`."""
    currency = gross.currency.code
    fixed = CURRENCIES[currency].bank_payout_fee if kind == PayoutMethodKind.BANK else Decimal(0)
    fee = quantize(Money(gross.amount * FEE_RATES[PayoutMethodKind(kind)] + fixed, currency))
    return min(fee, gross)


def payout_quote(*, diamonds: int, method: PayoutMethod, now: datetime.datetime | None = None) -> Quote:
    """Convert the diamonds' value into the method's currency at the stored rate, minus the fee.

    Raises exchange.ExchangeError (with a message for the creator) when the rates are missing or stale.
    """
    value = Valuation().diamonds(diamonds)
    max_age = datetime.timedelta(hours=PayoutSettings.load().exchange_rate_max_age_hours)
    conversion = exchange.convert(value, method.currency, max_age=max_age, now=now)
    fee = payout_fee(method.kind, conversion.result)
    return Quote(
        gross=conversion.result,
        fee=fee,
        net=conversion.result - fee,
        rate=conversion.rate,
        rates_updated_at=conversion.rates_updated_at,
    )


# --- Requesting -----------------------------------------------------------------------------------


def payout_request(*, creator: User, method_id: int, diamonds: int, idempotency_key: str) -> Payout:
    """Request a payout of `diamonds` to one of the creator's methods: all of it once, or nothing.

    Checks (under the creator's diamond wallet lock, so two requests cannot both spend the same
    diamonds): at least the minimum, no more than available (held diamonds excluded), no payout
    hold after a method change, rates fresh enough to convert. Moves the diamonds to clearing and
    queues the conversion, or leaves it waiting for staff approval above the threshold. The same
    idempotency key returns the first payout.
    """
    _check_request(diamonds=diamonds, idempotency_key=idempotency_key)
    method = PayoutMethod.objects.filter(pk=method_id, creator=creator, retired_at__isnull=True).first()
    if method is None:
        raise PayoutError(_("Choose one of your payout methods."))
    with transaction.atomic(durable=True):
        wallet = _locked_diamond_wallet(creator)
        existing = Payout.objects.filter(creator=creator, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
        _check_allowed(creator=creator, method=method, diamonds=diamonds)
        payout = _create_payout(creator=creator, method=method, diamonds=diamonds, idempotency_key=idempotency_key)
        ledger_move(
            source=wallet,
            destination=system_account(SystemAccount.DIAMONDS_CLEARING),
            asset=Asset.DIAMOND,
            amount=diamonds,
            idempotency_key=f"payout:{payout.pk}:request",
            kind="payout.request",
            memo=f"Payout {payout.public_id}",
            metadata={"payout": payout.pk},
            durable=False,
        )
        if payout.status == PayoutStatus.QUEUED:
            _enqueue(payout.pk)
    logger.info("Payout %s requested: %s diamonds by creator %s (%s)", payout.pk, diamonds, creator.pk, payout.status)
    return payout


def _check_request(*, diamonds: int, idempotency_key: str) -> None:
    if isinstance(diamonds, bool) or not isinstance(diamonds, int) or diamonds < 1:
        raise PayoutError(_("Enter a whole number of diamonds."))
    if not isinstance(idempotency_key, str) or not idempotency_key.strip() or len(idempotency_key) > MAX_KEY_LENGTH:
        raise PayoutError(_("The payout form is missing its request id; reload the page and try again."))


def _locked_diamond_wallet(creator: User) -> LedgerAccount:
    if not creator.is_creator:
        raise PayoutError(_("Only creators can request payouts."))
    account = account_for_user(creator, Asset.DIAMOND)
    return LedgerAccount.objects.select_for_update(no_key=True).get(pk=account.pk)


def _check_allowed(*, creator: User, method: PayoutMethod, diamonds: int) -> None:
    frozen = wallet_freeze_reason(creator)
    if frozen:
        raise PayoutError(
            # Translators: the reason is staff's own words, in the language they wrote it in.
            _("Your wallet is frozen by our team: %(reason)s Contact support to have it lifted.") % {"reason": frozen}
        )
    refusal = providers.method_refusal(kind=method.kind, currency=method.currency)
    if refusal:
        raise PayoutError(refusal)
    valuation, minimum = Valuation(), PayoutSettings.load().payout_minimum
    # The exact value, not the rounded one: 9,999 diamonds at 0.005 are 49.995, below a 50 minimum.
    if valuation.per_diamond.amount * diamonds < minimum.amount:
        raise PayoutError(
            ngettext(
                "The minimum payout is %(minimum)s; %(diamonds)s diamond is worth %(value)s.",
                "The minimum payout is %(minimum)s; %(diamonds)s diamonds are worth %(value)s.",
                diamonds,
            )
            % {
                "minimum": format_money(minimum),
                "diamonds": format_count(diamonds),
                "value": format_money(valuation.diamonds(diamonds)),
            }
        )
    balances = diamond_balances(creator)
    if diamonds > balances.available:
        numbers = {
            "available": format_count(balances.available),
            "on_hold": format_count(balances.on_hold),
            "asked": format_count(diamonds),
        }
        if balances.on_hold:
            raise PayoutError(
                ngettext(
                    "You have %(available)s diamond available (%(on_hold)s more are on hold from recent gifts); "
                    "you asked for %(asked)s.",
                    "You have %(available)s diamonds available (%(on_hold)s more are on hold from recent gifts); "
                    "you asked for %(asked)s.",
                    balances.available,
                )
                % numbers
            )
        raise PayoutError(
            ngettext(
                "You have %(available)s diamond available; you asked for %(asked)s.",
                "You have %(available)s diamonds available; you asked for %(asked)s.",
                balances.available,
            )
            % numbers
        )
    held_until = payouts_held_until(creator)
    if held_until is not None:
        raise PayoutError(
            _("Payouts are on hold until %(until)s because a payout method was added or changed.")
            % {"until": format_datetime_local(held_until)}
        )
    try:
        payout_quote(diamonds=diamonds, method=method)
    except exchange.ExchangeError as error:
        raise PayoutError(str(error)) from None


def _create_payout(*, creator: User, method: PayoutMethod, diamonds: int, idempotency_key: str) -> Payout:
    valuation = Valuation()
    value = valuation.diamonds(diamonds)
    needs_approval = value > PayoutSettings.load().payout_approval_above
    try:
        with transaction.atomic():
            return Payout.objects.create(
                creator=creator,
                method=method,
                diamonds=diamonds,
                idempotency_key=idempotency_key,
                status=PayoutStatus.AWAITING_APPROVAL if needs_approval else PayoutStatus.QUEUED,
                value=value,
                diamond_value=valuation.per_diamond,
                currency=method.currency,
                provider=providers.provider_name(),
            )
    except IntegrityError:
        raise PayoutError(_("This payout request was already sent.")) from None


def _tasks() -> ModuleType:
    # Deferred import: payouts.tasks imports this module (its tasks call these services).
    from payouts import tasks  # noqa: PLC0415

    return tasks


def _enqueue(payout_id: int) -> None:
    task_enqueue_on_commit(_tasks().payout_process, payout_id)


# --- Staff review ---------------------------------------------------------------------------------


def payout_hold_lift(*, creator: User, staff: User, reason: str) -> PayoutMethod:
    """End the payout hold the creator's latest method change started, now (audited with the reason).

    For staff who have checked the change with the creator. Refused when no hold is running. The
    creator's newest method row is locked, so two staff lifting at once record it once.
    """
    reason = " ".join((reason or "").split())
    if staff is None or not staff.is_staff:
        raise PayoutError("Only staff can do this.")
    if not reason:
        raise PayoutError("Give a reason: it is recorded in the staff audit log.")
    with transaction.atomic(durable=True):
        latest = PayoutMethod.objects.select_for_update().filter(creator=creator).order_by("-created_at", "-id").first()
        if method_hold_end(latest) is None or latest is None:
            raise PayoutError(f"{creator.email} has no payout hold to lift.")
        before = model_snapshot(latest)
        latest.hold_lifted_at, latest.hold_lifted_by = timezone.now(), staff
        latest.save(update_fields=["hold_lifted_at", "hold_lifted_by"])
        staff_action_record(
            actor=staff,
            action="payout.hold_lift",
            target=latest,
            before=before,
            after=model_snapshot(latest),
            reason=reason,
        )
    logger.info("Payout hold of creator %s lifted by staff %s", creator.pk, staff.pk)
    return latest


def payout_approve(*, payout_id: int, staff: User) -> Payout:
    """Approve a payout waiting for approval (never one's own) and queue it for conversion."""
    with transaction.atomic(durable=True):
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        _check_reviewer(payout, staff)
        before = model_snapshot(payout)
        payout.status, payout.reviewed_by, payout.reviewed_at = PayoutStatus.QUEUED, staff, timezone.now()
        payout.save(update_fields=["status", "reviewed_by", "reviewed_at", "updated_at"])
        staff_action_record(
            actor=staff, action="payout.approve", target=payout, before=before, after=model_snapshot(payout)
        )
        _enqueue(payout.pk)
    logger.info("Payout %s approved by staff %s", payout.pk, staff.pk)
    return payout


def payout_reject(*, payout_id: int, staff: User, reason: str) -> Payout:
    """Reject a payout waiting for approval with a reason; its diamonds return to the creator."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise PayoutError(_("Give the creator a reason for the rejection."))
    with transaction.atomic(durable=True):
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        _check_reviewer(payout, staff)
        before = model_snapshot(payout)
        payout.reviewed_by, payout.reviewed_at, payout.review_reason = staff, timezone.now(), reason[:300]
        _return_diamonds(payout, status=PayoutStatus.REJECTED, reason=reason[:300])
        staff_action_record(
            actor=staff,
            action="payout.reject",
            target=payout,
            before=before,
            after=model_snapshot(payout),
            reason=reason,
        )
    return payout


def payout_retry(*, payout_id: int, staff: User) -> Payout:
    """Try a failed payout again for staff: a new request for the same diamonds and method.

    The failed payout keeps its history (its diamonds were returned); the new one goes through every
    check again (balance, holds, freeze, rates), to the same method or, if the creator replaced it,
    their newest one. Retrying twice returns the same new payout.
    """
    if not staff.is_staff:
        raise PayoutError(_("Only staff retry payouts."))
    failed = Payout.objects.select_related("creator").get(pk=payout_id)
    if failed.status != PayoutStatus.FAILED:
        raise PayoutError(_("Only a failed payout can be retried."))
    # A payout often fails for a wrong address: if the creator has replaced that method, use their newest one.
    method = (
        PayoutMethod.objects.filter(pk=failed.method_id, retired_at__isnull=True).first()
        or PayoutMethod.objects.filter(creator=failed.creator, retired_at__isnull=True).order_by("-created_at").first()
    )
    if method is None:
        raise PayoutError(_("The creator has no payout method to retry to."))
    retry = payout_request(
        creator=failed.creator, method_id=method.pk, diamonds=failed.diamonds, idempotency_key=f"retry:{failed.pk}"
    )
    with transaction.atomic(durable=True):
        staff_action_record(actor=staff, action="payout.retry", target=failed, after={"retry_payout": retry.pk})
    return retry


def _check_reviewer(payout: Payout, staff: User) -> None:
    if not staff.is_staff:
        raise PayoutError(_("Only staff review payouts."))
    if staff.pk == payout.creator_id:
        raise PayoutError(_("Staff cannot review their own payout."))
    if payout.status != PayoutStatus.AWAITING_APPROVAL:
        raise PayoutError(
            _("This payout is %(status)s, not waiting for approval.") % {"status": payout.get_status_display().lower()}
        )


# --- Processing (the Celery task calls this) -----------------------------------------------------


def payout_process(*, payout_id: int) -> str:
    """Convert a queued payout and hand it to the provider, at most once, whatever happens to workers.

    A session-level advisory lock keeps two deliveries of the task from working on one payout at
    the same time; PostgreSQL drops it if the worker dies, so a redelivered task can take over.
    The conversion is stored before the provider is called, and the provider gets the payout's
    fixed idempotency key, so a task killed after paying and run again pays nothing more.
    Returns the payout's status afterwards.
    """
    with advisory_lock(LockClass.PAYOUT, payout_id) as locked:
        if not locked:
            return "locked"
        payout = Payout.objects.get(pk=payout_id)
        if payout.status not in (PayoutStatus.QUEUED, PayoutStatus.PROCESSING):
            return payout.status
        if payout.net is None and not _convert(payout):
            return payout.status
        return _submit(payout)


def _convert(payout: Payout) -> bool:
    """Store the conversion snapshot; False (and a reason on the payout) when rates are refused."""
    try:
        quote = payout_quote(diamonds=payout.diamonds, method=payout.method)
    except exchange.ExchangeError as error:
        Payout.objects.filter(pk=payout.pk).update(failure_reason=str(error)[:300], updated_at=timezone.now())
        logger.warning("Payout %s waits: %s", payout.pk, error)
        return False
    if quote.net.amount <= 0:
        payout_settle(payout_id=payout.pk, paid=False, reason=gettext_noop("The fee would take the whole payout."))
        return False
    payout.status, payout.attempts = PayoutStatus.PROCESSING, payout.attempts + 1
    payout.exchange_rate, payout.rates_updated_at = quote.rate, quote.rates_updated_at
    payout.gross, payout.fee, payout.net, payout.failure_reason = quote.gross, quote.fee, quote.net, ""
    payout.processed_at = timezone.now()
    payout.save(
        update_fields=[
            "status",
            "attempts",
            "exchange_rate",
            "rates_updated_at",
            "gross",
            "gross_currency",
            "fee",
            "fee_currency",
            "net",
            "net_currency",
            "failure_reason",
            "processed_at",
            "updated_at",
        ]
    )
    return True


def _submit(payout: Payout) -> str:
    provider = providers.get_provider(payout.provider)
    try:
        reference = provider.submit(payout)
    except providers.PayoutDeclined as declined:
        payout_settle(payout_id=payout.pk, paid=False, reason=str(declined))
        return PayoutStatus.FAILED
    Payout.objects.filter(pk=payout.pk, status=PayoutStatus.PROCESSING).update(
        status=PayoutStatus.SUBMITTED, provider_reference=reference, updated_at=timezone.now()
    )
    logger.info("Payout %s submitted to %s as %s", payout.pk, payout.provider, reference)
    return PayoutStatus.SUBMITTED


# --- Settlement -----------------------------------------------------------------------------------


def payout_settle(*, payout_id: int, paid: bool, reason: str = "", provider_reference: str = "") -> Payout:
    """Finish a payout once: paid redeems its diamonds, failed returns them (and emails the creator).

    A second notice for a finished payout changes nothing.
    """
    with transaction.atomic(durable=True):
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status not in (PayoutStatus.QUEUED, PayoutStatus.PROCESSING, PayoutStatus.SUBMITTED):
            return payout
        if provider_reference and payout.provider_reference not in ("", provider_reference):
            raise PayoutError(f"Payout {payout.pk} was sent as {payout.provider_reference}, not {provider_reference}.")
        if paid:
            _redeem_diamonds(payout, provider_reference)
        else:
            _return_diamonds(
                payout, status=PayoutStatus.FAILED, reason=reason or gettext_noop("The payout provider refused it.")
            )
    logger.info("Payout %s settled: %s", payout.pk, payout.status)
    return payout


def payout_settle_by_provider_key(
    *, provider: str, provider_key: str, reference: str, paid: bool, reason: str = ""
) -> Payout | None:
    """The provider's notice about a transfer, naming the idempotency key we sent it (providers echo it back,
    and it may arrive before we recorded their reference); unknown keys are ignored (None)."""
    payout_id = Payout.objects.filter(provider=provider, provider_key=provider_key).values_list("pk", flat=True).first()
    if payout_id is None:
        return None
    return payout_settle(payout_id=payout_id, paid=paid, reason=reason, provider_reference=reference)


def _redeem_diamonds(payout: Payout, provider_reference: str) -> None:
    ledger_move(
        source=system_account(SystemAccount.DIAMONDS_CLEARING),
        destination=system_account(SystemAccount.DIAMONDS_REDEEMED),
        asset=Asset.DIAMOND,
        amount=payout.diamonds,
        idempotency_key=f"payout:{payout.pk}:paid",
        kind="payout.paid",
        memo=f"Payout {payout.public_id} paid",
        metadata={"payout": payout.pk},
        durable=False,
    )
    payout.status, payout.finished_at = PayoutStatus.PAID, timezone.now()
    payout.provider_reference = payout.provider_reference or provider_reference
    payout.save(update_fields=["status", "finished_at", "provider_reference", "updated_at"])


def _return_diamonds(payout: Payout, *, status: str, reason: str) -> None:
    ledger_move(
        source=system_account(SystemAccount.DIAMONDS_CLEARING),
        destination=account_for_user(payout.creator, Asset.DIAMOND),
        asset=Asset.DIAMOND,
        amount=payout.diamonds,
        idempotency_key=f"payout:{payout.pk}:return",
        kind="payout.return",
        memo=f"Payout {payout.public_id} {status}",
        metadata={"payout": payout.pk},
        durable=False,
    )
    payout.status, payout.finished_at, payout.failure_reason = status, timezone.now(), reason[:300]
    payout.save(
        update_fields=[
            "status",
            "finished_at",
            "failure_reason",
            "reviewed_by",
            "reviewed_at",
            "review_reason",
            "updated_at",
        ]
    )
    payout_id = payout.pk
    task_enqueue_on_commit(_tasks().payout_email_failed, payout_id)


def payout_failure_email_claim(*, payout_id: int) -> bool:
    """Claim the right to tell the creator their payout failed; True for exactly one caller."""
    return (
        Payout.objects.filter(pk=payout_id, failure_email_sent_at__isnull=True).update(
            failure_email_sent_at=timezone.now()
        )
        == 1
    )


def payout_failure_email_release(*, payout_id: int) -> None:
    """Give a claimed failure email back after a failed send, so a retry can send it."""
    Payout.objects.filter(pk=payout_id).update(failure_email_sent_at=None)


def payout_method_notice_claim(*, method_id: int) -> bool:
    """Claim the right to send a new payout method's security notice; True for exactly one caller."""
    return (
        PayoutMethod.objects.filter(pk=method_id, notice_sent_at__isnull=True).update(notice_sent_at=timezone.now())
        == 1
    )


def payout_method_notice_release(*, method_id: int) -> None:
    """Give a claimed security notice back after a failed send, so a retry can send it."""
    PayoutMethod.objects.filter(pk=method_id).update(notice_sent_at=None)


# --- Sweep ----------------------------------------------------------------------------------------


def stuck_after() -> datetime.timedelta:
    """How long a queued or processing payout may go untouched before the sweep queues it again."""
    return datetime.timedelta(seconds=settings.PAYOUTS_STUCK_AFTER_SECONDS)


def payouts_sweep(*, now: datetime.datetime | None = None) -> int:
    """Re-queue payouts whose task was lost (queued or processing, untouched for a while), ask the provider
    about submitted ones, and queue again the failure and payout-method notices never sent; returns how many
    were picked up."""
    cutoff = (now or timezone.now()) - stuck_after()
    stuck = list(
        Payout.objects.filter(
            status__in=[PayoutStatus.QUEUED, PayoutStatus.PROCESSING], updated_at__lt=cutoff
        ).values_list("pk", flat=True)[:500]
    )
    for payout_id in stuck:
        _enqueue(payout_id)
    submitted = Payout.objects.filter(status=PayoutStatus.SUBMITTED, updated_at__lt=cutoff)[:500]
    for payout in submitted:
        state = providers.get_provider(payout.provider).status(payout.provider_reference)
        if state in ("paid", "failed"):
            payout_settle(
                payout_id=payout.pk, paid=state == "paid", reason=gettext_noop("Reported failed by the provider.")
            )
    unsent = payout_failure_emails_unsent(now=now)
    for payout_id in unsent:
        _tasks().payout_email_failed.delay(payout_id)
    notices = payout_method_notices_unsent(now=now)
    for method_id in notices:
        _tasks().payout_email_method_changed.delay(method_id)
    return len(stuck) + len(submitted) + len(unsent) + len(notices)


def payout_failure_emails_unsent(*, now: datetime.datetime | None = None, limit: int = 500) -> list[int]:
    """Failed or rejected payouts whose notice to the creator should have gone by now and has not
    (`resend_due`): the task was lost, or every retry failed. Oldest first."""
    unsent = Payout.objects.filter(
        status__in=[PayoutStatus.FAILED, PayoutStatus.REJECTED], failure_email_sent_at__isnull=True
    )
    return resend_due(unsent, finished="finished_at", every=settings.PAYOUTS_SWEEP_SECONDS, now=now, limit=limit)


def payout_method_notices_unsent(*, now: datetime.datetime | None = None, limit: int = 500) -> list[int]:
    """Payout methods whose security notice should have gone by now and has not (`resend_due`): the task
    was lost, or the broker refused it at commit, or every retry failed. A hijacked account must not change
    where the money goes unannounced. Oldest first."""
    unsent = PayoutMethod.objects.filter(notice_sent_at__isnull=True)
    return resend_due(unsent, finished="created_at", every=settings.PAYOUTS_SWEEP_SECONDS, now=now, limit=limit)
