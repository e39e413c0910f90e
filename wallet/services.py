"""Recharge: starting top-ups, applying provider events to them, and sweeping stuck ones.

A top-up is credited exactly once: the provider event is recorded under a unique (provider,
event id), the top-up row is locked and its state re-checked, and the coins are posted with the
idempotency key ``topup:<public id>`` in the same transaction. Provider calls and email happen
outside the transaction.
"""

import dataclasses
import datetime
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop, ngettext
from djmoney.money import Money

from coinsite.accounts.models import User
from coinsite.lib.email import resend_due
from coinsite.lib.l10n import format_count
from coinsite.lib.tasks import task_enqueue_on_commit
from wallet import ledger, selectors
from wallet.models import Asset, CoinPackage, PaymentWebhookEvent, TopUp, TopUpStatus, WalletFreeze
from wallet.money import format_money, quantize
from wallet.providers.base import (
    CheckoutRequest,
    PaymentEvent,
    ProviderError,
    UnsupportedPaymentMethod,
    checkout_expires_at,
    get_provider,
    webhook_event_check,
)
from wallet.selectors import RechargeOffer
from wallet.staff import receivables_settle

logger = logging.getLogger(__name__)

FINAL_FAILURE = {"failed": TopUpStatus.FAILED, "cancelled": TopUpStatus.CANCELLED, "expired": TopUpStatus.EXPIRED}
# Status reasons are stored in English and translated where the receipt page shows them ({% translate %}).
PROVIDER_REPORTED = {
    "failed": gettext_noop("Provider reported the payment failed."),
    "cancelled": gettext_noop("Provider reported the payment cancelled."),
    "expired": gettext_noop("Provider reported the payment expired."),
}
# Paid but not credited: only staff move a top-up out of these (wallet.held_topups).
REVIEW_STATES = (TopUpStatus.HELD, TopUpStatus.REFUNDED)
# A pending top-up is expired once this far past its checkout's end (it is asked about again after
# `recheck_after()`).
EXPIRY_GRACE = datetime.timedelta(minutes=5)


def recheck_after() -> datetime.timedelta:
    """How long a top-up may stay pending before the sweep asks its provider about it."""
    return datetime.timedelta(seconds=settings.TOPUPS_RECHECK_AFTER_SECONDS)


class RechargeError(Exception):
    """The recharge cannot go ahead; ``str(error)`` tells the viewer why. Nothing was written."""


@dataclass(frozen=True)
class Purchase:
    coins: int
    bonus_coins: int
    amount: Money
    package: CoinPackage | None


def topup_start(
    *, user: User, payment_method: str, package_id: int | None = None, custom_coins: int | None = None
) -> tuple[TopUp, str]:
    """Create a pending top-up and open the provider's hosted checkout; returns it and the URL to send the payer to.

    The price comes from the catalogue in the viewer's currency, never from the request. Nothing
    is credited here: coins arrive only with the provider's confirmation.
    """
    offer = selectors.recharge_offer(user)
    if offer.unavailable_reason or offer.country is None:
        raise RechargeError(offer.unavailable_reason)
    if payment_method not in offer.payment_methods:
        raise RechargeError(gettext("Choose one of the payment methods offered in your country."))
    purchase = _purchase(offer, package_id=package_id, custom_coins=custom_coins)
    provider = get_provider()
    topup = TopUp.objects.create(
        user=user,
        package=purchase.package,
        coins=purchase.coins,
        bonus_coins=purchase.bonus_coins,
        amount=purchase.amount,
        country=offer.country.code,
        payment_method=payment_method,
        provider=provider.name,
        expires_at=checkout_expires_at(),
    )
    try:
        # The checkout may let the payer switch, but only among the methods their country allows.
        allowed = tuple(method for method in offer.payment_methods if method in provider.payment_methods)
        session = provider.checkout_start(_checkout_request(topup, allowed_methods=allowed))
    except Exception as error:
        # A provider outage is expected (ProviderError); anything else (a missing API key, an SDK
        # bug) is logged in full, but the viewer still gets a plain answer and is never charged.
        if isinstance(error, ProviderError | UnsupportedPaymentMethod):
            logger.warning("Checkout for top-up %s failed to start: %s", topup.public_id, error)
        else:
            logger.exception("Checkout for top-up %s failed unexpectedly", topup.public_id)
        _finish(topup.pk, TopUpStatus.FAILED, reason=gettext_noop("The payment provider could not start the payment."))
        message = gettext("The payment could not be started. Nothing was charged; please try again.")
        raise RechargeError(message) from error
    TopUp.objects.filter(pk=topup.pk, provider_session_id="").update(
        provider_session_id=session.provider_session_id, expires_at=session.expires_at
    )
    return topup, session.redirect_url


def webhook_receive(*, provider_name: str, body: bytes, headers: Mapping[str, str]) -> list[str]:
    """Verify a provider webhook and apply each event it carries; returns what happened to each.

    Raises WebhookRejected (the view answers 400) before anything is written.
    """
    events = get_provider(provider_name).webhook_parse(body=body, headers=headers)
    for event in events:
        webhook_event_check(event)
    return [topup_apply_event(provider_name=provider_name, event=event) for event in events]


def topup_apply_event(*, provider_name: str, event: PaymentEvent) -> str:
    """Apply one provider event to its top-up, at most once per event id, in any order.

    Success credits the coins exactly once — also after the top-up was marked expired or
    cancelled, since the payer's money was taken. Failure, cancellation and expiry only end a
    pending top-up; nothing ever undoes a success here (refunds are a staff operation).
    """
    with transaction.atomic(durable=True):
        record = _record_event(provider_name, event)
        if record is None:
            return "duplicate event"
        public_id = _uuid_or_none(event.reference)
        topup = (
            TopUp.objects.select_for_update(no_key=True).filter(public_id=public_id, provider=provider_name).first()
            if public_id is not None
            else None
        )
        outcome = _transition(topup, event) if topup is not None else "unknown top-up"
        record.topup = topup
        record.outcome = outcome
        record.save(update_fields=["topup", "outcome"])
    logger.info("%s event %s (%s): %s", provider_name, event.event_id, event.type, outcome)
    return outcome


def topup_refresh(*, topup: TopUp) -> str:
    """Ask the provider how the top-up's checkout ended (return page, sweep) and apply the answer."""
    if topup.status != TopUpStatus.PENDING or not topup.provider_session_id:
        return "nothing to check"
    event = get_provider(topup.provider).session_status(topup.provider_session_id)
    if event is None:
        return "still open"
    status_event = dataclasses.replace(event, event_id=f"status:{event.provider_session_id}:{event.type}")
    return topup_apply_event(provider_name=topup.provider, event=status_event)


def topup_sweep(*, now: datetime.datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Re-check top-ups stuck in pending and expire abandoned ones; safe to run concurrently.

    Returns how many were checked, credited (their payment had gone through) and expired.
    """
    now = now or timezone.now()
    counts = {"checked": 0, "credited": 0, "expired": 0}
    stuck = TopUp.objects.filter(status=TopUpStatus.PENDING, created_at__lt=now - recheck_after()).order_by(
        "created_at"
    )[:limit]
    for topup in stuck:
        counts["checked"] += 1
        try:
            outcome = topup_refresh(topup=topup)
        except ProviderError as error:
            logger.warning("Could not re-check top-up %s: %s", topup.public_id, error)
            continue
        # The provider's own answer (a paid or expired session) is applied by the refresh; only a
        # checkout it still calls open, or cannot tell us about, is expired here.
        if outcome.startswith("credited"):
            counts["credited"] += 1
        elif outcome == "expired" or (
            topup.expires_at < now - EXPIRY_GRACE
            and _finish(topup.pk, TopUpStatus.EXPIRED, reason=gettext_noop("The checkout was not completed in time."))
        ):
            counts["expired"] += 1
    return counts


def topup_receipt_claim(*, topup_id: int) -> bool:
    """Claim the right to send a succeeded top-up's receipt; True for exactly one caller."""
    return (
        TopUp.objects.filter(pk=topup_id, status=TopUpStatus.SUCCEEDED, receipt_sent_at__isnull=True).update(
            receipt_sent_at=timezone.now()
        )
        == 1
    )


def topup_receipt_release(*, topup_id: int) -> None:
    """Give a claimed receipt back after a failed send, so a retry can send it."""
    TopUp.objects.filter(pk=topup_id).update(receipt_sent_at=None)


class UnsentEmails(NamedTuple):
    receipts: list[int]  # succeeded top-ups
    reversal_notices: list[int]  # refunded or charged-back top-ups
    freeze_notices: list[int]  # frozen accounts (user ids)


def wallet_emails_unsent(*, now: datetime.datetime | None = None, limit: int = 500) -> UnsentEmails:
    """Receipts, reversal notices and account-freeze notices that should have gone by now and have not
    (`resend_due`): the task was lost, or the broker refused it, or every retry failed. Oldest first, at most
    `limit` of each; the partial indexes keep it a short read whatever the number of rows."""
    receipts = TopUp.objects.filter(status=TopUpStatus.SUCCEEDED, receipt_sent_at__isnull=True)
    notices = TopUp.objects.exclude(reversal="").filter(reversal_email_sent_at__isnull=True)
    freezes = WalletFreeze.objects.filter(notice_pending=True)
    every = settings.TOPUPS_SWEEP_SECONDS  # the sweep's schedule (CELERY_BEAT_SCHEDULE)
    return UnsentEmails(
        receipts=resend_due(receipts, finished="completed_at", every=every, now=now, limit=limit),
        reversal_notices=resend_due(notices, finished="reversed_at", every=every, now=now, limit=limit),
        freeze_notices=resend_due(freezes, finished="frozen_at", every=every, now=now, limit=limit),
    )


# --- helpers ----------------------------------------------------------------------------------------


def _purchase(offer: RechargeOffer, *, package_id: int | None, custom_coins: int | None) -> Purchase:
    if (package_id is None) == (custom_coins is None):
        raise RechargeError(gettext("Choose a coin package or enter a custom number of coins."))
    if package_id is not None:
        for item in offer.packages:
            if item.package.pk == package_id:
                return Purchase(item.package.coins, item.package.bonus_coins, item.price, item.package)
        raise RechargeError(gettext("That coin package is not available in your currency."))
    rate = offer.rate
    if rate is None:
        raise RechargeError(gettext("Custom amounts are not available in your currency."))
    assert custom_coins is not None  # exactly one of package_id and custom_coins, checked above
    if not rate.min_coins <= custom_coins <= rate.max_coins:
        raise RechargeError(
            gettext("Choose between %(min)s and %(max)s coins.")
            % {"min": format_count(rate.min_coins), "max": format_count(rate.max_coins)}
        )
    return Purchase(custom_coins, 0, selectors.custom_price(rate, custom_coins), None)


def _checkout_request(topup: TopUp, *, allowed_methods: tuple[str, ...]) -> CheckoutRequest:
    return_url = settings.SITE_URL + reverse("wallet:topup-return", args=[topup.public_id])
    return CheckoutRequest(
        reference=str(topup.public_id),
        amount=quantize(topup.amount),
        # What the payer reads on the provider's page, in the language they started the payment in.
        description=ngettext("%(coins)s Coinsite coin", "%(coins)s Coinsite coins", topup.total_coins)
        % {"coins": format_count(topup.total_coins)},
        customer_email=topup.user.email,
        payment_method=topup.payment_method,
        success_url=return_url,
        cancel_url=f"{return_url}?cancelled=1",
        idempotency_key=f"coinsite-topup-{topup.public_id}",
        country=topup.country,
        allowed_methods=allowed_methods,
    )


def _record_event(provider_name: str, event: PaymentEvent) -> PaymentWebhookEvent | None:
    try:
        with transaction.atomic():
            return PaymentWebhookEvent.objects.create(
                provider=provider_name, event_id=event.event_id, event_type=event.type, outcome="processing"
            )
    except IntegrityError:
        return None


def _transition(topup: TopUp, event: PaymentEvent) -> str:
    if event.provider_session_id and topup.provider_session_id not in ("", event.provider_session_id):
        return "ignored: the event is for another checkout session"
    if event.type == "succeeded":
        return _succeed(topup, event)
    if event.type in FINAL_FAILURE:
        if topup.status != TopUpStatus.PENDING:
            return f"ignored: already {topup.status}"
        _record_method(topup, event)
        _set_status(topup, FINAL_FAILURE[event.type], reason=PROVIDER_REPORTED[event.type])
        return event.type
    return "ignored: still pending"


def _succeed(topup: TopUp, event: PaymentEvent) -> str:
    if topup.status == TopUpStatus.SUCCEEDED:
        return "ignored: already credited"
    if topup.status in REVIEW_STATES:
        return f"ignored: {topup.get_status_display().lower()}"
    if event.amount is not None and quantize(event.amount) != quantize(topup.amount):
        logger.error("Top-up %s paid %s but expected %s; not credited.", topup.public_id, event.amount, topup.amount)
        return "refused: amount does not match"
    _record_method(topup, event)
    if event.payment_country is not None:
        topup.payment_country = event.payment_country
        if event.payment_country != topup.user.country:
            return _hold(topup)
    late = topup.status != TopUpStatus.PENDING
    topup_credit(topup=topup, reason=gettext_noop("Paid after the checkout had ended.") if late else "")
    return "credited late" if late else "credited"


def _record_method(topup: TopUp, event: PaymentEvent) -> None:
    """The provider's report of how the payer paid is the truth (they may switch on its page)."""
    if event.payment_method and event.payment_method != topup.payment_method:
        logger.info("Top-up %s paid with %s, not %s", topup.public_id, event.payment_method, topup.payment_method)
        topup.payment_method = event.payment_method


def _hold(topup: TopUp) -> str:
    """Paid, but from another country than the account's: no coins until staff review it (wallet.held_topups)."""
    paid_from, country = topup.payment_country or "an unknown country", topup.user.country
    logger.warning("Top-up %s paid from %s, account country %s: held", topup.public_id, paid_from, country)
    _set_status(topup, TopUpStatus.HELD, reason=f"Paid from {paid_from}; the account's country is {country}.")
    return "held: paid from another country"


def topup_credit(*, topup: TopUp, reason: str = "") -> None:
    """Credit a paid top-up's coins and mark it succeeded, in the caller's transaction with the top-up locked.

    The ledger posting's idempotency key (``topup:<public id>``) makes a second credit of the same
    top-up impossible, whichever path (webhook, return page, staff release) gets here.
    """
    posting = ledger.ledger_credit(
        account=ledger.account_for_user(topup.user, Asset.COIN),
        asset=Asset.COIN,
        amount=topup.total_coins,
        idempotency_key=f"topup:{topup.public_id}",
        kind="topup",
        memo=f"Recharge: {topup.total_coins:,} coins for {format_money(topup.amount)}",
        metadata={
            "topup": str(topup.public_id),
            "amount": str(quantize(topup.amount).amount),
            "currency": topup.amount.currency.code,
        },
        durable=False,
    )
    # Coins owed after an earlier refund or chargeback are settled first, in this same transaction.
    topup.debt_settled_coins = receivables_settle(user=topup.user)
    topup.ledger_transaction = posting
    _set_status(topup, TopUpStatus.SUCCEEDED, reason=reason)
    # Deferred import: wallet.tasks imports this module (its tasks call these services).
    from wallet.tasks import topup_send_receipt  # noqa: PLC0415

    task_enqueue_on_commit(topup_send_receipt, topup.pk)


def _set_status(topup: TopUp, status: str, *, reason: str = "") -> None:
    topup.status = status
    topup.status_reason = reason
    topup.completed_at = timezone.now()
    topup.save(
        update_fields=[
            "status",
            "status_reason",
            "completed_at",
            "ledger_transaction",
            "payment_country",
            "payment_method",
            "debt_settled_coins",
            "updated_at",
        ]
    )


def _finish(topup_id: int, status: str, *, reason: str) -> bool:
    """End a still-pending top-up without crediting; a conditional UPDATE so it never races a success."""
    return (
        TopUp.objects.filter(pk=topup_id, status=TopUpStatus.PENDING).update(
            status=status, status_reason=reason, completed_at=timezone.now(), updated_at=timezone.now()
        )
        == 1
    )


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
