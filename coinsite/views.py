"""The project's own pages: the home page, /favicon.ico and the error pages."""

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.http import require_safe

from coinsite import operations
from coinsite.lib.errors import problem_response, wants_problem
from gifting.selectors import live_cards
from gifting.services import live_cards_counts_save
from wallet.valuation import display_currency, request_valuation


def home(request: HttpRequest) -> HttpResponse:
    """The landing page, with who is live now (the same list as /live/)."""
    cards = live_cards()
    live_cards_counts_save(cards=cards)
    per_coin = request_valuation(request).per_coin(display_currency(request.user))
    return render(request, "home.html", {"cards": cards, "per_coin": per_coin})


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and crawlers ask for /favicon.ico whatever the page links: send them to the static file
    (its hashed name in production, so it is cached for good)."""
    return HttpResponsePermanentRedirect(static("img/favicon.ico"))


def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_problem(request):
        return problem_response(request, "invalid_request")
    return render(request, "errors/400.html", status=400)


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_problem(request):
        return problem_response(request, "forbidden")
    return render(request, "errors/403.html", status=403)


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_problem(request):
        return problem_response(request, "not_found")
    return render(request, "errors/404.html", status=404)


def error_500(request: HttpRequest) -> HttpResponse:
    """A bug gets the 500 page; a database or Redis outage gets a 503 that says what happened."""
    cause = operations.unavailable_cause()
    if cause is not None:
        return operations.unavailable_response(request, cause)
    if wants_problem(request):
        return problem_response(request, "server_error")
    return render(request, "errors/500.html", status=500)
