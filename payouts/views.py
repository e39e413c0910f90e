"""The creator pages: earnings dashboard, payout methods, payout requests and their status."""

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from coinsite.accounts import sudo, two_factor
from payouts import exchange, selectors, services
from payouts.forms import PayoutMethodForm, PayoutRequestForm, new_request_key
from payouts.models import Payout, PayoutMethod
from wallet.selectors import economy


def creator_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_creator:
            raise PermissionDenied("Only creators have earnings and payouts.")
        return view(request, *args, **kwargs)

    return wrapper


def fresh_two_factor_required(view):
    """Payouts and payout methods need 2FA, re-checked with a code in the last few minutes (sudo mode)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not two_factor.has_two_factor(request.user):
            messages.warning(
                request, "Turn on two-factor authentication before you add payout methods or request payouts."
            )
            return redirect("accounts:security")
        if not sudo.is_fresh(request):
            target = request.get_full_path() if request.method == "GET" else reverse("payouts:index")
            return redirect(f"{reverse('accounts:confirm')}?{urlencode({'next': target})}")
        return view(request, *args, **kwargs)

    return wrapper


@login_required
def index(request):
    if not request.user.is_creator:
        return render(request, "payouts/not_creator.html")
    dashboard = selectors.creator_dashboard(request.user)
    methods = list(PayoutMethod.objects.filter(creator=request.user, retired_at__isnull=True))
    chart = {
        "labels": [day.isoformat() for day, _ in dashboard.daily],
        "diamonds": [diamonds for _, diamonds in dashboard.daily],
    }  # json_script encodes it
    return render(
        request,
        "payouts/index.html",
        {
            "dashboard": dashboard,
            "methods": methods,
            "economy": economy(),
            "chart": chart,
            "held_until": services.payouts_held_until(request.user),
            "minimum_diamonds": _minimum_diamonds(),
            "has_two_factor": two_factor.has_two_factor(request.user),
            "request_form": PayoutRequestForm(methods=methods, initial={"idempotency_key": new_request_key()}),
        },
    )


def _minimum_diamonds() -> int:
    settings_row = economy()
    per_diamond = settings_row.diamond_value.amount
    return int(-(-settings_row.payout_minimum.amount // per_diamond))


@creator_required
@fresh_two_factor_required
def method_add(request, replaces: int | None = None):
    old = (
        get_object_or_404(PayoutMethod, pk=replaces, creator=request.user, retired_at__isnull=True)
        if replaces
        else None
    )
    form = PayoutMethodForm(
        request.POST or None,
        initial={"currency": request.user.preferred_currency, "holder_name": request.user.display_name},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.payout_method_add(creator=request.user, replaces=old, **form.cleaned_data)
        except services.PayoutError as error:
            form.add_error(None, str(error))
        else:
            hours = economy().payout_method_hold_hours
            messages.success(
                request,
                f"Payout method saved. For your safety, payouts are on hold for {hours} hours; "
                "we emailed you about the change.",
            )
            return redirect("payouts:index")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "payouts/method_form.html",
        {"form": form, "replaces": old, "hold_hours": economy().payout_method_hold_hours},
        status=status,
    )


@require_POST
@creator_required
@fresh_two_factor_required
def method_retire(request, method_id: int):
    method = get_object_or_404(PayoutMethod, pk=method_id, creator=request.user, retired_at__isnull=True)
    services.payout_method_retire(creator=request.user, method=method)
    messages.success(request, f"{method} was removed.")
    return redirect("payouts:index")


@require_POST
@creator_required
@fresh_two_factor_required
def payout_request(request):
    methods = list(PayoutMethod.objects.filter(creator=request.user, retired_at__isnull=True))
    form = PayoutRequestForm(request.POST, methods=methods)
    if not form.is_valid():
        return _request_error(request, " ".join(error for errors in form.errors.values() for error in errors))
    try:
        payout = services.payout_request(
            creator=request.user,
            method_id=form.cleaned_data["method"],
            diamonds=form.cleaned_data["diamonds"],
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except services.PayoutError as error:
        return _request_error(request, str(error))
    messages.success(request, f"Payout of {payout.diamonds:,} diamonds ({payout.value}) requested.")
    return redirect("payouts:payout", public_id=payout.public_id)


def _request_error(request, message: str):
    messages.error(request, message)
    return redirect("payouts:index")


@creator_required
def payout_detail(request, public_id):
    payout = get_object_or_404(Payout.objects.select_related("method"), public_id=public_id, creator=request.user)
    quote = None
    if payout.net is None and payout.is_open:
        try:
            quote = services.payout_quote(diamonds=payout.diamonds, method=payout.method)
        except exchange.ExchangeError as error:
            quote = str(error)
    return render(request, "payouts/payout.html", {"payout": payout, "quote": quote})
