"""Emails go out in the recipient's language and time zone, whatever language the sender (a request, a
task) was in: subject, bodies and amounts. With no catalogues yet the words stay English, so these tests
read what Babel formats differently per language: amounts, counts, dates and the HTML's lang."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone, translation
from djmoney.money import Money

from coinsite.accounts.models import User
from coinsite.lib.email import recipient_locale
from coinsite.lib.l10n import time_zone
from wallet import emails
from wallet.models import TopUp, TopUpStatus, WalletFreeze

pytestmark = pytest.mark.django_db

NBSP, NNBSP = "\xa0", "\u202f"
PAID_AT = datetime.datetime(2026, 11, 16, 9, 5, tzinfo=datetime.UTC)


def paid_topup(user, *, coins: int, amount: Money) -> TopUp:
    return TopUp.objects.create(
        user=user,
        coins=coins,
        amount=amount,
        country=user.country,
        payment_method="card",
        provider="sandbox",
        status=TopUpStatus.PENDING,
        created_at=PAID_AT,
        completed_at=PAID_AT,
        expires_at=PAID_AT + datetime.timedelta(hours=1),
    )


def html_of(message) -> str:
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def test_a_receipt_is_written_for_a_french_buyer_in_paris(alice):
    User.objects.filter(pk=alice.pk).update(language="fr", time_zone="Europe/Paris", country="FR")
    alice.refresh_from_db()
    topup = paid_topup(alice, coins=1_400, amount=Money("21.99", "EUR"))

    with translation.override("en"), timezone.override(time_zone("America/New_York")):  # the sender's own
        emails.topup_receipt_send(topup_id=topup.pk)
        assert (translation.get_language(), timezone.get_current_timezone_name()) == ("en", "America/New_York")

    [message] = mail.outbox
    assert message.to == ["alice@example.com"]
    # The French catalogue's words, the French grouping of the number.
    assert message.subject.startswith("Votre reçu Coinsite") and message.subject.endswith(f"1{NNBSP}400 pièces")
    assert f"1{NNBSP}400 pièces ont été ajoutées" in message.body
    assert f"21,99{NBSP}€" in message.body
    assert "16 nov. 2026, 10:05 (Paris)" in message.body
    html = html_of(message)
    assert '<html lang="fr">' in html
    assert f"21,99{NBSP}€" in html
    assert "16 nov. 2026, 10:05 (Paris)" in html


def test_a_korean_receipt_has_whole_won_and_seoul_time(alice):
    User.objects.filter(pk=alice.pk).update(language="ko", time_zone="Asia/Seoul", country="KR")
    alice.refresh_from_db()
    topup = paid_topup(alice, coins=70, amount=Money("1500", "KRW"))

    emails.topup_receipt_send(topup_id=topup.pk)

    [message] = mail.outbox
    assert "₩1,500" in message.body
    assert "2026. 11. 16. 오후 6:05 (서울)" in message.body
    assert '<html lang="ko">' in html_of(message)


def test_someone_who_never_chose_gets_english_and_utc(alice):
    topup = paid_topup(alice, coins=70, amount=Money("0.99", "USD"))

    with translation.override("de"):
        emails.topup_receipt_send(topup_id=topup.pk)

    [message] = mail.outbox
    assert message.subject == "Your Coinsite receipt: 70 coins"
    assert "$0.99" in message.body
    assert "Nov 16, 2026, 9:05\u202fAM (UTC)" in message.body
    assert '<html lang="en">' in html_of(message)


def test_a_frozen_account_is_told_in_its_language(alice, charlie):
    User.objects.filter(pk=alice.pk).update(language="ja")
    WalletFreeze.objects.create(user=alice, reason="Unusual activity.", frozen_by=charlie)

    emails.account_frozen_send(user_id=alice.pk)

    [message] = mail.outbox
    assert '<html lang="ja">' in html_of(message)
    assert "Unusual activity." in message.body


def test_recipient_locale_restores_the_callers_language_and_zone_even_on_errors(alice):
    User.objects.filter(pk=alice.pk).update(language="pt-br", time_zone="America/Sao_Paulo")
    alice.refresh_from_db()

    with translation.override("it"), timezone.override(time_zone("Asia/Tokyo")):
        with pytest.raises(RuntimeError), recipient_locale(alice):
            assert (translation.get_language(), timezone.get_current_timezone_name()) == (
                "pt-br",
                "America/Sao_Paulo",
            )
            raise RuntimeError("the mail server is down")
        assert (translation.get_language(), timezone.get_current_timezone_name()) == ("it", "Asia/Tokyo")
