"""Emails about payouts: a payout method changed (security notice), a payout failed or was rejected,
and the monthly statement.

Built from templates/emails/ and sent by `coinsite.lib.email`. The first two are sent by tasks
(services → tasks → emails); the statement by the statement run, itself a task.
"""

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from coinsite.lib.email import email_send, recipient_locale, site_url
from coinsite.lib.l10n import format_count, format_month_local
from payouts.models import Payout, PayoutMethod
from payouts.selectors import payouts_held_until
from payouts.statements.exports import statement_csv, statement_filename
from payouts.statements.selectors import Statement


def method_changed_send(*, method_id: int) -> None:
    """The security notice after a payout method was added or changed, with the payout hold; in the
    creator's language and time zone."""
    method = PayoutMethod.objects.select_related("creator").get(pk=method_id)
    with recipient_locale(method.creator):
        email_send(
            to=method.creator.email,
            subject=_("Your Coinsite payout method was changed"),
            template="payout_method_changed",
            context={
                "user": method.creator,
                "method": method,
                "held_until": payouts_held_until(method.creator),
                "earnings_url": site_url("payouts:index"),
            },
        )


def payout_failed_send(*, payout_id: int) -> None:
    """Tell the creator a payout failed or was rejected and its diamonds are back, in their language."""
    payout = Payout.objects.select_related("creator", "method").get(pk=payout_id)
    with recipient_locale(payout.creator):
        email_send(
            to=payout.creator.email,
            subject=ngettext(
                "Your payout of %(diamonds)s diamond did not go through",
                "Your payout of %(diamonds)s diamonds did not go through",
                payout.diamonds,
            )
            % {"diamonds": format_count(payout.diamonds)},
            template="payout_failed",
            context={"user": payout.creator, "payout": payout, "earnings_url": site_url("payouts:index")},
        )


def statement_send(statement: Statement) -> None:
    """Email the statement: a text body, the HTML alternative and the CSV attached, all in the person's
    language and time zone."""
    with recipient_locale(statement.user):
        email_send(
            to=statement.user.email,
            subject=_("Your Coinsite statement for %(month)s") % {"month": format_month_local(statement.month)},
            template=f"statement_{statement.kind}",
            context={
                "statement": statement,
                "user": statement.user,
                "statement_url": site_url("payouts:statement", f"{statement.month:%Y-%m}"),
                "statements_url": site_url("payouts:statements"),
            },
            attachments=[(statement_filename(statement), statement_csv(statement), "text/csv")],
        )
