"""Statement pages: the months a user can download, one month's statement, and its CSV.

Every user (viewer or creator) sees only their own statement: the URLs carry a month, never a
user id. Months before the user's first month, in the future, or malformed are a 404.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from coinsite.accounts.http import AuthenticatedRequest
from coinsite.lib.dates import current_month, parse_month
from coinsite.lib.replica import replica_reads
from payouts.statements.exports import statement_csv, statement_filename
from payouts.statements.selectors import Statement, is_available, statement_for, statement_months
from wallet.valuation import request_valuation


def _statement_or_404(request: AuthenticatedRequest, month_text: str, *, every_gift: bool) -> Statement:
    month = parse_month(month_text)
    if month is None or not is_available(request.user, month):
        raise Http404(_("There is no statement for that month."))
    return statement_for(request.user, month, valuation=request_valuation(request), every_gift=every_gift)


@require_GET
@login_required
@replica_reads
def statement_list(request: AuthenticatedRequest) -> HttpResponse:
    months = statement_months(request.user)
    return render(request, "payouts/statements.html", {"months": months, "current": current_month()})


@require_GET
@login_required
@replica_reads
def statement_detail(request: AuthenticatedRequest, month: str) -> HttpResponse:
    statement = _statement_or_404(request, month, every_gift=False)  # the page lists them added up
    template = f"payouts/statements_{statement.kind}.html"
    return render(request, template, {"statement": statement, "month_slug": f"{statement.month:%Y-%m}"})


@require_GET
@login_required
@replica_reads
def statement_csv_download(request: AuthenticatedRequest, month: str) -> HttpResponse:
    statement = _statement_or_404(request, month, every_gift=True)
    response = HttpResponse(statement_csv(statement), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{statement_filename(statement)}"'
    return response
