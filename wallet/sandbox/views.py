"""The sandbox provider's hosted checkout page. No login: like a real provider's page, the
unguessable session id in the URL is the only key."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_countries import countries

from wallet.money import format_money
from wallet.sandbox.forms import CHALLENGE, SUCCESS, CardForm, CarrierBillingForm
from wallet.sandbox.models import METHOD_LABELS, SandboxSession
from wallet.sandbox.services import sandbox_session_challenge, sandbox_session_finish

State = SandboxSession.State
WALLETS = ("paypal", "google_pay", "apple_pay")
MERCHANT = "Coinsite"
# The methods paid by filling in a form (the wallets are paid with one Approve button).
PAYMENT_FORMS: dict[str, type[CardForm] | type[CarrierBillingForm]] = {
    "card": CardForm,
    "carrier_billing": CarrierBillingForm,
}
# The payer picks their billing country (it starts as the account's); a different one gets the
# top-up held for review on Coinsite's side, which is how testers see that rule work.


@never_cache
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, public_id: str) -> HttpResponse:
    session = get_object_or_404(SandboxSession, public_id=public_id)
    if not session.is_open:
        if request.method == "POST":  # a double submit or a stale tab: show the outcome, change nothing
            return redirect("paysandbox:checkout", session.public_id)
        return _render(request, "sandbox/finished.html", session)
    if request.method == "POST" and request.POST.get("action") == "cancel":
        sandbox_session_finish(session_id=session.pk, outcome=State.CANCELLED)
        return _after_finish(session)
    if session.state == State.CHALLENGE:
        return _challenge(request, session)
    method = _chosen_method(request, session)
    if request.method == "POST":
        return _pay(request, session, method)
    form_class = PAYMENT_FORMS.get(method)
    return _render(request, "sandbox/checkout.html", session, method=method, form=form_class() if form_class else None)


def _pay(request: HttpRequest, session: SandboxSession, method: str) -> HttpResponse:
    if request.POST.get("method", method) != method:  # a method this checkout does not offer
        error = _("This payment method is not available for your country. Choose one of those shown.")
        return _render(request, "sandbox/checkout.html", session, method=method, status=400, error=error)
    form_class = PAYMENT_FORMS.get(method)
    form = form_class(request.POST) if form_class else None
    country = request.POST.get("billing_country") or session.billing_country
    if country and country not in countries:
        error = _("Choose a billing country from the list.")
        return _render(request, "sandbox/checkout.html", session, method=method, form=form, status=400, error=error)
    if form is None:
        return _pay_wallet(request, session, method, country)
    if not form.is_valid():
        return _render(request, "sandbox/checkout.html", session, method=method, form=form, billing_country=country)
    if form.outcome == CHALLENGE:
        sandbox_session_challenge(session_id=session.pk, payer_detail=form.payer_detail, billing_country=country)
        return redirect("paysandbox:checkout", session.public_id)
    sandbox_session_finish(
        session_id=session.pk,
        outcome=State.PAID if form.outcome == SUCCESS else State.DECLINED,
        paid_with=method,
        payer_detail=form.payer_detail,
        billing_country=country,
    )
    return _after_finish(session)


def _pay_wallet(request: HttpRequest, session: SandboxSession, method: str, country: str) -> HttpResponse:
    action = request.POST.get("action")
    if action not in {"approve", "decline"}:
        return _render(
            request, "sandbox/checkout.html", session, method=method, status=400, error=_("Choose Approve or Decline.")
        )
    sandbox_session_finish(
        session_id=session.pk,
        outcome=State.PAID if action == "approve" else State.DECLINED,
        paid_with=method,
        payer_detail=(_("%(method)s test account") % {"method": METHOD_LABELS[method]})[:60],
        billing_country=country,
    )
    return _after_finish(session)


def _challenge(request: HttpRequest, session: SandboxSession) -> HttpResponse:
    if request.method == "GET":
        return _render(request, "sandbox/challenge.html", session)
    action = request.POST.get("action")
    if action not in {"approve", "deny"}:
        return _render(request, "sandbox/challenge.html", session, status=400, error=_("Choose Approve or Deny."))
    sandbox_session_finish(
        session_id=session.pk,
        outcome=State.PAID if action == "approve" else State.DECLINED,
        from_states=(State.CHALLENGE,),
    )
    return _after_finish(session)


def _after_finish(session: SandboxSession) -> HttpResponse:
    """Send the payer back like a real provider: success URL when paid, cancel URL when they
    cancelled; a decline or expiry is explained on this page first (it links back)."""
    session.refresh_from_db()
    if session.state == State.PAID:
        return redirect(session.success_url)
    if session.state == State.CANCELLED:
        return redirect(session.cancel_url)
    return redirect("paysandbox:checkout", session.public_id)


def _chosen_method(request: HttpRequest, session: SandboxSession) -> str:
    """The method the payer switched to, if this checkout offers it; else the one Coinsite asked for."""
    method = request.POST.get("method") if request.method == "POST" else request.GET.get("method")
    return method if method in session.offered_methods else session.payment_method


def _render(
    request: HttpRequest, template: str, session: SandboxSession, *, status: int = 200, **context: Any
) -> HttpResponse:
    methods = [{"code": code, "label": METHOD_LABELS[code]} for code in session.offered_methods]
    return render(
        request,
        template,
        {
            "session": session,
            "merchant": MERCHANT,
            "amount": format_money(session.price),
            "methods": methods,
            "method_label": METHOD_LABELS.get(context.get("method", ""), ""),
            "return_url": session.success_url if session.state == State.PAID else session.cancel_url,
            "billing_countries": list(countries),
            "billing_country": session.billing_country,
            **context,
        },
        status=status,
    )
