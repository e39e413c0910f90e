"""Emails the accounts app sends, each built from templates/emails/ and sent by `coinsite.lib.email`."""

from django.utils.translation import gettext as _

from coinsite.lib.email import email_send


def staff_enrollment_code_send(*, to: str, code: str, minutes: int) -> None:
    """A staff member's one-time code for setting up their first authenticator, valid for `minutes`.

    Sent from the request itself, not through a task: the person is waiting for it, and the code must not
    sit in the broker's queue.
    """
    email_send(
        to=to,
        subject=_("Your Coinsite staff set-up code"),
        template="staff_enrollment_code",
        context={"code": code, "minutes": minutes},
    )
