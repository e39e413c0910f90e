"""Emails the wallet sends; each builds its message from templates/emails/ and sends through MAILERS."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from wallet.forms import PAYMENT_METHOD_LABELS
from wallet.models import TopUp
from wallet.selectors import coin_value


def topup_receipt_send(*, topup_id: int) -> None:
    topup = TopUp.objects.select_related("user").get(pk=topup_id)
    context = {
        "topup": topup,
        "user": topup.user,
        "method_label": PAYMENT_METHOD_LABELS.get(topup.payment_method, topup.payment_method),
        "coin_value": coin_value(topup.total_coins, topup.amount.currency.code),
        "receipt_url": settings.SITE_URL + reverse("wallet:topup-detail", args=[topup.public_id]),
        "wallet_url": settings.SITE_URL + reverse("wallet:index"),
    }
    message = EmailMultiAlternatives(
        subject=f"Your Coinsite receipt: {topup.total_coins:,} coins",
        body=render_to_string("emails/topup_receipt.txt", context),
        to=[topup.user.email],
    )
    message.attach_alternative(render_to_string("emails/topup_receipt.html", context), "text/html")
    message.send()
