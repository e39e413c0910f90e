"""A statement email is written in its recipient's language and time zone, CSV included, whatever the
language of the task that sends it."""

import pytest
from django.core import mail
from django.utils import translation

from coinsite.accounts.models import User
from coinsite.lib.dates import current_month, previous_month
from payouts import emails
from payouts.statements.selectors import viewer_statement

pytestmark = pytest.mark.django_db


def test_a_japanese_viewers_statement_is_in_japanese_style(alice):
    User.objects.filter(pk=alice.pk).update(language="ja", time_zone="Asia/Tokyo")
    alice.refresh_from_db()
    month = previous_month(current_month())

    with translation.override("fr"):
        emails.statement_send(viewer_statement(alice, month))
        assert translation.get_language() == "fr"

    [message] = mail.outbox
    assert f"{month.year}年{month.month}月" in message.subject and "明細書" in message.subject
    [(html, _mimetype)] = message.alternatives
    assert '<html lang="ja">' in html
    assert f"{month.year}年{month.month}月" in html and f"{month.year}年{month.month}月" in message.body
    [(filename, content, mimetype)] = message.attachments
    assert (filename.endswith(".csv"), mimetype) == (True, "text/csv")
    assert content
