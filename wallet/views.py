import json
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from coinsite.lib.rate_limit import RateLimit, RateLimited, rate_limit_hit
from wallet import selectors, services
from wallet.forms import PAYMENT_METHOD_LABELS, RechargeForm
from wallet.models import TopUp, TopUpStatus
from wallet.providers.base import PROVIDERS, ProviderError, WebhookRejected

logger = logging.getLogger(__name__)

TOPUP_STARTS = RateLimit(limit=10, window=60)  # per viewer
# Hosted checkouts on another origin. Chromium applies the page's CSP form-action to the redirect
# that answers a form POST, so the Buy coins form must be allowed to land there.
CHECKOUT_ORIGINS = {"stripe": "https://checkout.stripe.com"}


@login_required
def recharge(request):
    offer = selectors.recharge_offer(request.user)
    form = RechargeForm(offer=offer, initial=_custom_coins_initial(request.GET.get("coins", ""), offer))
    return _recharge_page(request, offer, form)


def _custom_coins_initial(coins: str, offer) -> dict:
    """`?coins=N` (e.g. a gift's shortfall) pre-selects a custom amount of N, within the currency's limits."""
    if not (coins.isascii() and coins.isdecimal() and len(coins) <= 9) or offer.rate is None:
        return {}
    return {"choice": "custom", "custom_coins": min(max(int(coins), offer.rate.min_coins), offer.rate.max_coins)}


@require_POST
@login_required
def topup_start(request):
    offer = selectors.recharge_offer(request.user)
    form = RechargeForm(request.POST, offer=offer)
    if offer.unavailable_reason:
        return _recharge_page(request, offer, form, status=403)
    if not form.is_valid():
        return _recharge_page(request, offer, form, status=400)
    try:
        rate_limit_hit(f"wallet:topup-start:{request.user.pk}", TOPUP_STARTS)
    except RateLimited:
        form.add_error(None, _("Too many payment attempts. Wait a minute and try again."))
        return _recharge_page(request, offer, form, status=429)
    try:
        _topup, redirect_url = services.topup_start(
            user=request.user,
            payment_method=form.cleaned_data["payment_method"],
            package_id=form.cleaned_data["package_id"],
            custom_coins=form.cleaned_data["custom_coins"],
        )
    except services.RechargeError as error:
        form.add_error(None, str(error))
        return _recharge_page(request, offer, form, status=400)
    return redirect(redirect_url)


@login_required
def topup_return(request, public_id):
    """Where the provider sends the payer back: ask the provider right away instead of waiting for its webhook."""
    topup = get_object_or_404(TopUp, public_id=public_id, user=request.user)
    try:
        services.topup_refresh(topup=topup)
    except ProviderError as error:  # the webhook or the sweep will tell us; the receipt page shows it pending
        logger.warning("Could not re-check top-up %s on return: %s", topup.public_id, error)
    if request.GET.get("cancelled"):
        messages.info(request, "The payment was cancelled. Nothing was charged.")
    return redirect("wallet:topup-detail", public_id=topup.public_id)


@login_required
def topup_detail(request, public_id):
    topup = get_object_or_404(TopUp.objects.select_related("package"), public_id=public_id, user=request.user)
    return render(
        request,
        "wallet/topup_detail.html",
        {
            "topup": topup,
            "is_pending": topup.status == TopUpStatus.PENDING,
            "method_label": PAYMENT_METHOD_LABELS.get(topup.payment_method, topup.payment_method),
            "coin_value": selectors.coin_value(topup.total_coins, topup.amount.currency.code),
        },
    )


@csrf_exempt
@require_POST
def webhook(request, provider_name):
    """Provider webhooks: verified by signature, deduplicated per event, 2xx on replays."""
    if provider_name not in PROVIDERS or provider_name != settings.PAYMENT_PROVIDER:
        raise Http404("This payment provider is not in use.")
    try:
        outcomes = services.webhook_receive(provider_name=provider_name, body=request.body, headers=request.headers)
    except WebhookRejected as rejection:
        return HttpResponse(json.dumps({"error": str(rejection)}), status=400, content_type="application/json")
    return JsonResponse({"received": True, "outcomes": outcomes})


def _recharge_page(request, offer, form, *, status=200):
    response = render(
        request,
        "wallet/recharge.html",
        {
            "offer": offer,
            "form": form,
            "method_labels": PAYMENT_METHOD_LABELS,
        },
        status=status,
    )
    checkout_origin = CHECKOUT_ORIGINS.get(settings.PAYMENT_PROVIDER)
    if checkout_origin and "form-action" in settings.SECURE_CSP:
        # What @csp_override sets, computed per request because the provider is a setting.
        response._csp_config = {
            **settings.SECURE_CSP,
            "form-action": [*settings.SECURE_CSP["form-action"], checkout_origin],
        }
    return response
