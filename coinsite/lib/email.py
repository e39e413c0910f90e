"""The one way the site sends email: a text body and an HTML alternative from templates/emails/.

`email_send(template="topup_receipt", ...)` renders `emails/topup_receipt.txt` and, unless
`html=False`, `emails/topup_receipt.html`, which extends `emails/base.html` (the frame and the
styles every HTML email shares). The context always has `site_url`, for absolute links, and
`support_email` (settings.SUPPORT_EMAIL).

An email to a person is written in their language and shows times in their time zone: build it
(subject, context, attachments) and send it inside `with recipient_locale(user):`.
"""

import datetime
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db.models import QuerySet
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


def resend_due(unsent: QuerySet, *, finished: str, now: datetime.datetime | None = None, limit: int = 500) -> list[int]:
    """The ids of `unsent` rows (their email not claimed yet) whose work finished (the `finished` field) inside
    the window the mail sweeps queue again, oldest first: newer work may still have its task in flight; older,
    the news is stale (EMAILS_RESEND_* settings)."""
    now = now or timezone.now()
    window = (
        now - datetime.timedelta(days=settings.EMAILS_RESEND_WITHIN_DAYS),
        now - datetime.timedelta(seconds=settings.EMAILS_RESEND_AFTER_SECONDS),
    )
    due = unsent.filter(**{f"{finished}__range": window}).order_by(finished)
    return list(due.values_list("pk", flat=True)[:limit])
