"""The creator pages: earnings dashboard, payout methods, payout requests and their status."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from djmoney.money import Money

from coinsite.accounts import creator_applications
from coinsite.accounts.forms import CreatorApplicationForm
from coinsite.accounts.http import AuthenticatedRequest
from coinsite.lib.access import creator_required, has_two_factor, two_factor_fresh_required
from coinsite.lib.l10n import format_count
from coinsite.lib.replica import replica_reads
from payouts import exchange, selectors, services
from payouts.forms import PayoutMethodForm, PayoutRequestForm, new_request_key
from payouts.models import Payout, PayoutMethod, PayoutSettings
from wallet.money import format_money
from wallet.valuation import request_valuation


@login_required
@replica_reads
def index(request: AuthenticatedRequest) -> HttpResponse:
    if not request.user.is_creator:
        return _not_creator(request, CreatorApplicationForm(initial={"display_name": request.user.display_name}))
    valuation = request_valuation(request)
    payout_settings = PayoutSettings.load()
    dashboard = selectors.creator_dashboard(request.user, valuation=valuation)
    every_method = list(PayoutMethod.objects.filter(creator=request.user).order_by("-created_at"))  # retired too
    methods = [method for method in every_method if method.is_active]
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
            "per_diamond": valuation.per_diamond,
            "currency": valuation.currency,
            "payout_settings": payout_settings,
            "payout_minimum": valuation.money(payout_settings.payout_minimum),
            "payout_approval_above": valuation.money(payout_settings.payout_approval_above),
            "payout_values": {payout.pk: valuation.money(payout.value) for payout in dashboard.payouts},
            "chart": chart,
            "chart_text": selectors.chart_text(dashboard.daily, valuation=valuation),
            "held_until": selectors.method_hold_end(every_method[0] if every_method else None),
            # In the diamond value's own currency, as the payout service checks it.
            "minimum_diamonds": _minimum_diamonds(payout_settings.payout_minimum, valuation.economy.diamond_value),
            "has_two_factor": has_two_factor(request.user),
            "request_form": PayoutRequestForm(methods=methods, initial={"idempotency_key": new_request_key()}),
        },
    )


def _not_creator(request: AuthenticatedRequest, form: CreatorApplicationForm, *, status: int = 200) -> HttpResponse:
    """The Creator menu for a viewer: how to become a creator, their application and where it stands."""
    latest = creator_applications.creator_application_latest(request.user)
    context = {"form": form, "application": latest, "is_open": latest is not None and latest.status == "pending"}
    return render(request, "payouts/not_creator.html", context, status=status)


@require_POST
@login_required
def apply(request: AuthenticatedRequest) -> HttpResponse:
    """A viewer applies to become a creator (one open application at a time); staff decide in admin."""
    if request.user.is_creator:
        return redirect("payouts:index")
    form = CreatorApplicationForm(request.POST)
    if not form.is_valid():
        return _not_creator(request, form, status=400)
    data = form.cleaned_data
    try:
        creator_applications.creator_application_submit(
            user=request.user,
            display_name=data["display_name"],
            category=data["category"],
            description=data["description"],
            link=data["link"],
        )
    except creator_applications.ApplicationError as error:
        form.add_error(None, str(error))
        return _not_creator(request, form, status=400)
    messages.success(request, gettext("Thanks! Our team reviews applications within a few days and will email you."))
    return redirect("payouts:index")


def _minimum_diamonds(minimum: Money, per_diamond: Money) -> int:
    """The fewest diamonds worth the payout minimum (rounded up)."""
    return int(-(-minimum.amount // per_diamond.amount))


@creator_required
@two_factor_fresh_required(return_to="payouts:index", action=gettext_lazy("Save your payout method"))
def method_add(request: AuthenticatedRequest, replaces: int | None = None) -> HttpResponse:
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
            hours = PayoutSettings.load().payout_method_hold_hours
            messages.success(
                request,
                ngettext(
                    "Payout method saved. For your safety, payouts are on hold for %(hours)s hour; "
                    "we emailed you about the change.",
                    "Payout method saved. For your safety, payouts are on hold for %(hours)s hours; "
                    "we emailed you about the change.",
                    hours,
                )
                % {"hours": hours},
            )
            return redirect("payouts:index")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "payouts/method_form.html",
        {"form": form, "replaces": old, "hold_hours": PayoutSettings.load().payout_method_hold_hours},
        status=status,
    )


@require_POST
@creator_required
@two_factor_fresh_required(return_to="payouts:index", action=gettext_lazy("Remove your payout method"))
def method_retire(request: AuthenticatedRequest, method_id: int) -> HttpResponse:
    method = get_object_or_404(PayoutMethod, pk=method_id, creator=request.user, retired_at__isnull=True)
    services.payout_method_retire(creator=request.user, method=method)
    messages.success(request, _("%(method)s was removed.") % {"method": method})
    return redirect("payouts:index")


def _payout_request_words(request: HttpRequest) -> str:
    diamonds = request.POST.get("diamonds", "")
    if diamonds.isdigit() and len(diamonds) < 20:
        count = int(diamonds)
        return ngettext("Request a payout of %(count)s diamond", "Request a payout of %(count)s diamonds", count) % {
            "count": format_count(count)
        }
    return gettext("Request your payout")


@require_POST
@creator_required
@two_factor_fresh_required(return_to="payouts:index", action=_payout_request_words)
def payout_request(request: AuthenticatedRequest) -> HttpResponse:
    methods = list(PayoutMethod.objects.filter(creator=request.user, retired_at__isnull=True))
    form = PayoutRequestForm(request.POST, methods=methods)
    if not form.is_valid():
        return _request_error(request, " ".join(str(error) for errors in form.errors.values() for error in errors))
    try:
        payout = services.payout_request(
            creator=request.user,
            method_id=form.cleaned_data["method"],
            diamonds=form.cleaned_data["diamonds"],
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except services.PayoutError as error:
        return _request_error(request, str(error))
    messages.success(
        request,
        ngettext(
            "Payout of %(diamonds)s diamond (%(value)s) requested.",
            "Payout of %(diamonds)s diamonds (%(value)s) requested.",
            payout.diamonds,
        )
        % {"diamonds": format_count(payout.diamonds), "value": format_money(payout.value)},
    )
    return redirect("payouts:payout", public_id=payout.public_id)


def _request_error(request: AuthenticatedRequest, message: str) -> HttpResponse:
    messages.error(request, message)
    return redirect("payouts:index")


@creator_required
def payout_detail(request: AuthenticatedRequest, public_id: uuid.UUID) -> HttpResponse:
    payout: Payout = get_object_or_404(
        Payout.objects.select_related("method"), public_id=public_id, creator=request.user
    )
    quote: services.Quote | str | None = None  # the quote, or why there is none yet
    if payout.net is None and payout.is_open:
        try:
            quote = services.payout_quote(diamonds=payout.diamonds, method=payout.method)
        except exchange.ExchangeError as error:
            quote = str(error)
    return render(request, "payouts/payout.html", {"payout": payout, "quote": quote})
