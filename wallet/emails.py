"""Emails the wallet sends, each built from templates/emails/ and sent by `coinsite.lib.email`.

Called by the tasks in `wallet.tasks` (services → tasks → emails), never from inside a transaction.
"""

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from coinsite.lib.email import email_send, recipient_locale, site_url
from coinsite.lib.l10n import format_count
from wallet.audit import AuditReport
from wallet.forms import PAYMENT_METHOD_LABELS
from wallet.models import TopUp, WalletFreeze
from wallet.valuation import Valuation


def topup_receipt_send(*, topup_id: int) -> None:
    """The receipt of a succeeded top-up: coins, price, method, with a link to the receipt page; in the
    buyer's language and time zone."""
    topup = TopUp.objects.select_related("user").get(pk=topup_id)
    with recipient_locale(topup.user):
        email_send(
            to=topup.user.email,
            subject=ngettext(
                "Your Coinsite receipt: %(coins)s coin", "Your Coinsite receipt: %(coins)s coins", topup.total_coins
            )
            % {"coins": format_count(topup.total_coins)},
            template="topup_receipt",
            context={
                "topup": topup,
                "user": topup.user,
                "method_label": PAYMENT_METHOD_LABELS.get(topup.payment_method, topup.payment_method),
                "coin_value": Valuation().coins(topup.total_coins, topup.amount.currency.code),
                "receipt_url": site_url("wallet:topup-detail", topup.public_id),
                "wallet_url": site_url("wallet:index"),
            },
        )


def topup_reversal_send(*, topup_id: int) -> None:
    """Tell the viewer their top-up was refunded or charged back: the coins taken back, what they owe
    (coins already spent), with a link to the receipt; in their language and time zone."""
    topup = TopUp.objects.select_related("user", "reversal_transaction").get(pk=topup_id)
    metadata = topup.reversal_transaction.metadata if topup.reversal_transaction else {}
    with recipient_locale(topup.user):
        subject = (
            _("Your Coinsite recharge was refunded")
            if topup.reversal == "refund"
            else _("Your Coinsite recharge was charged back")
        )
        email_send(
            to=topup.user.email,
            subject=subject,
            template="topup_reversal",
            context={
                "topup": topup,
                "user": topup.user,
                "clawed_back": metadata.get("clawed_back", topup.total_coins),
                "owed": metadata.get("shortfall", 0),
                "receipt_url": site_url("wallet:topup-detail", topup.public_id),
                "wallet_url": site_url("wallet:index"),
            },
        )


def account_frozen_send(*, user_id: int) -> None:
    """Tell a user their account was frozen by staff, and why (the freeze's reason as it stands), in their language."""
    freeze = WalletFreeze.objects.select_related("user").get(pk=user_id)
    with recipient_locale(freeze.user):
        email_send(
            to=freeze.user.email,
            subject=_("Your Coinsite account is frozen"),
            template="account_frozen",
            context={"reason": freeze.reason},
        )


def ledger_audit_failed_send(*, day: str, report: AuditReport) -> None:
    """Alert staff (STAFF_ALERT_EMAILS) that the daily ledger audit failed, listing the offending rows."""
    email_send(
        to=list(settings.STAFF_ALERT_EMAILS),
        subject=f"[Coinsite] Ledger audit FAILED for {day}: {report.problem_count} problem(s)",
        template="ledger_audit_failed",
        context={"lines": report.lines()},
        html=False,
    )
