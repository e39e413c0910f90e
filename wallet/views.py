"""The viewer's wallet pages: the overview with its history (and CSV), spending controls, recharge,
top-up receipts, and the payment providers' webhooks."""

import functools
import json
import logging
import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from coinsite.accounts.http import AuthenticatedRequest
from coinsite.lib.l10n import format_count, format_datetime_local
from coinsite.lib.rate_limit import RateLimit, RateLimited, rate_limit_hit
from wallet import exports, selectors, services, spending
from wallet.forms import PAYMENT_METHOD_LABELS, HistoryFilterForm, LimitsForm, PauseForm, RechargeForm
from wallet.ledger_kinds import spending_kinds
from wallet.models import TopUp, TopUpStatus
from wallet.providers.base import PROVIDERS, ProviderError, WebhookRejected
from wallet.valuation import CoinAmount, Valuation, request_valuation

logger = logging.getLogger(__name__)

TOPUP_STARTS = RateLimit(limit=10, window=60)  # per viewer
HISTORY_PAGE_SIZE = 25
RECENT_TOPUPS = 5
TOPUPS_PAGE_SIZE = 25
# Hosted checkouts on another origin. Chromium applies the page's CSP form-action to the redirect
# that answers a form POST, so the Buy coins form must be allowed to land there.
CHECKOUT_ORIGINS = {"stripe": "https://checkout.stripe.com"}


@login_required
def recharge(request: AuthenticatedRequest) -> HttpResponse:
    offer = selectors.recharge_offer(request.user)
    form = RechargeForm(offer=offer, initial=_custom_coins_initial(request.GET.get("coins", ""), offer))
    return _recharge_page(request, offer, form)


def _custom_coins_initial(coins: str, offer: selectors.RechargeOffer) -> dict[str, object]:
    """`?coins=N` (e.g. a gift's shortfall) pre-selects a custom amount of N, within the currency's limits."""
    if not (coins.isascii() and coins.isdecimal() and len(coins) <= 9) or offer.rate is None:
        return {}
    return {"choice": "custom", "custom_coins": min(max(int(coins), offer.rate.min_coins), offer.rate.max_coins)}


@require_POST
@login_required
def topup_start(request: AuthenticatedRequest) -> HttpResponse:
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
def topup_return(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    """Where the provider sends the payer back: ask the provider right away instead of waiting for its webhook."""
    topup = get_object_or_404(TopUp, public_id=public_id, user=request.user)
    try:
        services.topup_refresh(topup=topup)
    except ProviderError as error:  # the webhook or the sweep will tell us; the receipt page shows it pending
        logger.warning("Could not re-check top-up %s on return: %s", topup.public_id, error)
    if request.GET.get("cancelled"):
        messages.info(request, _("The payment was cancelled. Nothing was charged."))
    return redirect("wallet:topup-detail", public_id=topup.public_id)


@login_required
def topup_detail(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    topup: TopUp = get_object_or_404(
        TopUp.objects.select_related("package", "reversal_transaction"), public_id=public_id, user=request.user
    )
    reversal = topup.reversal_transaction
    return render(
        request,
        "wallet/topup_detail.html",
        {
            "topup": topup,
            "reversal_owed": (reversal.metadata or {}).get("shortfall", 0) if reversal else 0,
            "is_pending": topup.status == TopUpStatus.PENDING,
            "method_label": PAYMENT_METHOD_LABELS.get(topup.payment_method, topup.payment_method),
            "coin_value": request_valuation(request).coins(topup.total_coins, topup.amount.currency.code),
        },
    )


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, provider_name: str) -> HttpResponse:
    """Provider webhooks: verified by signature, deduplicated per event, 2xx on replays."""
    if provider_name not in PROVIDERS or provider_name != settings.PAYMENT_PROVIDER:
        raise Http404(_("This payment provider is not in use."))
    try:
        outcomes = services.webhook_receive(provider_name=provider_name, body=request.body, headers=request.headers)
    except WebhookRejected as rejection:
        return HttpResponse(json.dumps({"error": str(rejection)}), status=400, content_type="application/json")
    return JsonResponse({"received": True, "outcomes": outcomes})


def _recharge_page(
    request: HttpRequest, offer: selectors.RechargeOffer, form: RechargeForm, *, status: int = 200
) -> HttpResponse:
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
        csp: dict[str, Any] = settings.SECURE_CSP
        response._csp_config = {**csp, "form-action": [*csp["form-action"], checkout_origin]}  # type: ignore[attr-defined]
    return response


# --- The wallet overview and spending controls -------------------------------------------------


@require_safe
@login_required
def index(request: AuthenticatedRequest) -> HttpResponse:
    """The wallet: balance, budgets, this month's recharges and spending, recent top-ups, the history."""
    user = request.user
    now = timezone.now()
    currency = user.preferred_currency
    valuation = request_valuation(request)
    filters = HistoryFilterForm(request.GET)
    account = selectors.coin_account(user)
    page = rows = None
    if filters.is_valid():
        entries = selectors.history_entries(account, filters.history_filter())
        page = Paginator(entries, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [
            (row, valuation.coin_amount(row.magnitude, currency), valuation.coin_amount(row.balance_after, currency))
            for row in selectors.history_rows(account, list(page.object_list))
        ]
    summary = selectors.spending_summary(user, kinds=spending_kinds(), now=now)
    standing = selectors.wallet_standing(user)
    return render(
        request,
        "wallet/index.html",
        {
            "balance": valuation.coin_amount(account.current_balance if account else 0, currency),
            "currency": currency,
            "summary": summary,
            "spent_this_month": valuation.coin_amount(summary.spent_this_month, currency),
            "remaining": valuation.coin_amount(summary.remaining, currency),
            "recharges": selectors.month_recharges(user, now),
            "topups": TopUp.objects.filter(user=user).order_by("-created_at")[:RECENT_TOPUPS],
            "filters": filters,
            "page": page,
            "rows": rows,
            "is_filtered": filters.is_valid() and any(filters.cleaned_data.values()),
            "frozen_reason": standing.frozen_reason,
            "owed": valuation.coin_amount(standing.coins_owed, currency),
        },
        status=200 if filters.is_valid() else 400,
    )


@require_safe
@login_required
def topups(request: AuthenticatedRequest) -> HttpResponse:
    """Every top-up the viewer started, newest first, a page at a time."""
    page = Paginator(TopUp.objects.filter(user=request.user).order_by("-created_at", "-id"), TOPUPS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "wallet/topups.html", {"page": page, "topups": list(page.object_list)})


@require_safe
@login_required
def history_csv(request: AuthenticatedRequest) -> HttpResponseBase:
    """The filtered coin history as a CSV download, streamed from the database."""
    filters = HistoryFilterForm(request.GET)
    if not filters.is_valid():
        messages.error(request, _("The history could not be exported: fix the filters below."))
        return redirect(f"{reverse('wallet:index')}?{request.GET.urlencode()}")
    user = request.user
    rows = selectors.history_csv_rows(selectors.coin_account(user), filters.history_filter())
    lines = exports.history_csv_lines(rows, valuation=request_valuation(request), currency=user.preferred_currency)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = exports.history_csv_filename(
        kind=filters.cleaned_data.get("type") or "",
        date_from=filters.cleaned_data.get("date_from"),
        date_to=filters.cleaned_data.get("date_to"),
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_http_methods(["GET", "POST"])
@login_required
def controls(request: AuthenticatedRequest) -> HttpResponse:
    if request.method == "POST":
        action = CONTROL_ACTIONS.get(request.POST.get("action", ""))
        if action is None:
            messages.error(request, _("That action is not available. Nothing was changed."))
            return _controls_page(request, status=400)
        return action(request)
    period = request.GET.get("pause")
    if period is None:
        return _controls_page(request)
    if period not in spending.EXCLUSION_PERIODS:
        messages.error(request, _("Choose a pause of 24 hours, 7 days or 30 days."))
        return _controls_page(request, status=400)
    return _pause_confirm_page(request, PauseForm(initial={"period": period}), period)


def _set_limits(request: AuthenticatedRequest) -> HttpResponse:
    form = LimitsForm(request.POST)
    if not form.is_valid():
        return _controls_page(request, limits_form=form, status=400)
    try:
        controls = spending.spending_limits_set(
            user=request.user,
            daily_limit=form.cleaned_data["daily_limit"],
            monthly_limit=form.cleaned_data["monthly_limit"],
        )
    except spending.InvalidSpendingRequest as error:
        form.add_error(None, str(error))
        return _controls_page(request, limits_form=form, status=400)
    messages.success(request, _("Your budgets were saved."))
    now = timezone.now()
    for period in spending.PERIODS:
        pending = selectors.pending_raise(controls, period, now)
        if pending is not None:
            messages.info(request, _pending_raise_message(period, pending))
    return redirect("wallet:controls")


def _cancel_raises(request: AuthenticatedRequest) -> HttpResponse:
    spending.spending_raises_cancel(user=request.user)
    messages.success(request, _("Pending budget raises were cancelled. Your current budgets stay."))
    return redirect("wallet:controls")


def _pause(request: AuthenticatedRequest) -> HttpResponse:
    form = PauseForm(request.POST)
    if not form.is_valid():
        period = request.POST.get("period", "")
        if period not in spending.EXCLUSION_PERIODS:
            messages.error(request, _("Choose a pause of 24 hours, 7 days or 30 days. Nothing was changed."))
            return _controls_page(request, status=400)
        return _pause_confirm_page(request, form, period, status=400)
    controls = spending.self_exclusion_start(user=request.user, period=form.cleaned_data["period"])
    until = format_datetime_local(controls.excluded_until) if controls.excluded_until else ""  # set just now
    messages.success(
        request,
        _("Gifting and buying coins are paused until %(until)s. The pause cannot be lifted early.") % {"until": until},
    )
    return redirect("wallet:controls")


def _pending_raise_message(period: str, pending: selectors.PendingRaise) -> str:
    when = {"when": format_datetime_local(pending.effective_at)}
    if pending.limit is None:
        text = (
            _(
                "Your daily budget changes to no limit on %(when)s: raising or removing a budget takes effect 24 "
                "hours later."
            )
            if period == "daily"
            else _(
                "Your monthly budget changes to no limit on %(when)s: raising or removing a budget takes effect 24 "
                "hours later."
            )
        )
        return text % when
    texts = {
        "daily": ngettext(
            "Your daily budget changes to %(coins)s coin on %(when)s: raising or removing a budget takes effect "
            "24 hours later.",
            "Your daily budget changes to %(coins)s coins on %(when)s: raising or removing a budget takes effect "
            "24 hours later.",
            pending.limit,
        ),
        "monthly": ngettext(
            "Your monthly budget changes to %(coins)s coin on %(when)s: raising or removing a budget takes effect "
            "24 hours later.",
            "Your monthly budget changes to %(coins)s coins on %(when)s: raising or removing a budget takes effect "
            "24 hours later.",
            pending.limit,
        ),
    }
    return texts[period] % {**when, "coins": format_count(pending.limit)}


CONTROL_ACTIONS = {"limits": _set_limits, "cancel-raises": _cancel_raises, "pause": _pause}


def _controls_page(
    request: AuthenticatedRequest, *, limits_form: LimitsForm | None = None, status: int = 200
) -> HttpResponse:
    summary = selectors.spending_summary(request.user, kinds=spending_kinds())
    valuation = request_valuation(request)
    if limits_form is None:
        limits_form = LimitsForm(initial={"daily_limit": summary.daily_limit, "monthly_limit": summary.monthly_limit})
    return render(
        request,
        "wallet/controls.html",
        {
            "summary": summary,
            "amounts": _summary_amounts(summary, valuation, request.user.preferred_currency),
            "limits_form": limits_form,
            "pause_choices": spending.EXCLUSION_LABELS,
        },
        status=status,
    )


def _pause_confirm_page(
    request: AuthenticatedRequest, form: PauseForm, period: str, *, status: int = 200
) -> HttpResponse:
    summary = selectors.spending_summary(request.user, kinds=spending_kinds())
    requested_until = summary.now + spending.EXCLUSION_PERIODS[period]
    return render(
        request,
        "wallet/controls_pause.html",
        {
            "form": form,
            "period": period,
            "period_label": spending.EXCLUSION_LABELS[period],
            "pause_until": max(requested_until, summary.excluded_until or requested_until),
            "already_longer": summary.excluded_until is not None and summary.excluded_until >= requested_until,
            "summary": summary,
        },
        status=status,
    )


def _summary_amounts(
    summary: selectors.SpendingSummary, valuation: Valuation, currency: str
) -> dict[str, CoinAmount | None]:
    amount = functools.partial(valuation.coin_amount, currency=currency)
    pending = {f"{period}_pending": getattr(summary, f"{period}_pending") for period in spending.PERIODS}
    return {
        "spent_today": amount(summary.spent_today),
        "spent_this_month": amount(summary.spent_this_month),
        "daily_limit": amount(summary.daily_limit),
        "monthly_limit": amount(summary.monthly_limit),
        "remaining_today": amount(summary.remaining_today),
        "remaining_this_month": amount(summary.remaining_this_month),
        **{name: amount(raise_.limit) if raise_ else None for name, raise_ in pending.items()},
    }
