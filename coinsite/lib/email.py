"""The one way the site sends email: a text body and an HTML alternative from templates/emails/.

`email_send(template="topup_receipt", ...)` renders `emails/topup_receipt.txt` and, unless
`html=False`, `emails/topup_receipt.html`, which extends `emails/base.html` (the frame and the
styles every HTML email shares). The context always has `site_url`, for absolute links, and
`support_email` (settings.SUPPORT_EMAIL).

An email to a person is written in their language and shows times in their time zone: build it
(subject, context, attachments) and send it inside `with recipient_locale(user):`.
"""

import datetime
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import reduce
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q, QuerySet
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from coinsite.lib.l10n import language_or_default, time_zone


class Recipient(Protocol):
    """What an email needs to know about the person it is for (a `coinsite.accounts.User`)."""

    language: str
    time_zone: str


@contextmanager
def recipient_locale(recipient: Recipient) -> Iterator[None]:
    """Everything inside speaks to `recipient`: their saved language (English if they never chose one),
    with amounts and dates formatted for it, and times in their time zone; the caller's are restored after."""
    with (
        translation.override(language_or_default(recipient.language)),
        timezone.override(time_zone(recipient.time_zone)),
    ):
        yield


def site_url(url_name: str, *args: Any) -> str:
    """The absolute URL of a named page, for links in emails."""
    return settings.SITE_URL + reverse(url_name, args=args)


def email_send(
    *,
    to: str | Sequence[str],
    subject: str,
    template: str,
    context: dict[str, Any],
    html: bool = True,
    attachments: Sequence[tuple[str, str, str]] = (),
) -> None:
    """Render emails/<template>.txt (and .html) with `context`, in the active language and time zone (see
    `recipient_locale`), and send it now; attachments are (filename, content, mimetype). Raises what the
    mail backend raises, so callers can release a claim."""
    context = {"site_url": settings.SITE_URL, "support_email": settings.SUPPORT_EMAIL, **context}
    message = EmailMultiAlternatives(
        subject=subject,
        body=plain_text(f"emails/{template}.txt", context),
        to=[to] if isinstance(to, str) else list(to),
    )
    if html:
        message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    for filename, content, mimetype in attachments:
        message.attach(filename, content, mimetype)
    message.send()


def plain_text(template_name: str, context: dict[str, Any]) -> str:
    """A text email body: the template rendered without HTML escaping, which would turn a creator called
    "Ana & O'Brien" into "Ana &amp; O&#x27;Brien" in the reader's mail program."""
    template = get_template(template_name).template  # type: ignore[attr-defined]
    return template.render(Context(context, autoescape=False))


def email_send_claimed(*, claim: Callable[[], bool], send: Callable[[], None], release: Callable[[], object]) -> bool:
    """Send an email at most once across re-delivered tasks: `claim` it (a conditional UPDATE that is
    True for exactly one caller), `send` it, and `release` the claim if sending fails so a retry can
    send it. Returns whether this call sent it."""
    if not claim():
        return False
    try:
        send()
    except Exception:
        release()
        raise
    return True


def resend_due(
    unsent: QuerySet, *, finished: str, every: float, now: datetime.datetime | None = None, limit: int = 500
) -> list[int]:
    """The ids of `unsent` rows (their email not claimed yet) that the mail sweep calling this, every `every`
    seconds, should queue again, oldest first (the `finished` field: when their work finished).

    A row is due in the sweep after its age passes EMAILS_RESEND_AFTER_SECONDS, then again after twice that,
    four times, and so on while it is younger than EMAILS_RESEND_WITHIN_DAYS (`resend_ages`). Newer work may
    still have its task in flight; older, the news is stale. An email whose every send fails (a mail server
    down for a day, an address that refuses mail) is tried about nine times in three days, not every sweep.
    A sweep that comes late may miss one of those ages; the next age catches the row.
    """
    now = now or timezone.now()
    oldest = now - datetime.timedelta(days=settings.EMAILS_RESEND_WITHIN_DAYS)
    sweep = datetime.timedelta(seconds=every)
    windows = [
        Q(**{f"{finished}__gt": max(now - age - sweep, oldest), f"{finished}__lte": now - age}) for age in resend_ages()
    ]
    if not windows:
        return []
    due = unsent.filter(reduce(operator.or_, windows)).order_by(finished)
    return list(due.values_list("pk", flat=True)[:limit])


def resend_ages() -> list[datetime.timedelta]:
    """The ages at which the mail sweeps queue an unsent email again: EMAILS_RESEND_AFTER_SECONDS, doubling,
    while younger than EMAILS_RESEND_WITHIN_DAYS."""
    within = datetime.timedelta(days=settings.EMAILS_RESEND_WITHIN_DAYS)
    age = datetime.timedelta(seconds=settings.EMAILS_RESEND_AFTER_SECONDS)
    ages = []
    while age < within:
        ages.append(age)
        age *= 2
    return ages
