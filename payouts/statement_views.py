"""Statement pages: the months a user can download, one month's statement, and its CSV.

Every user (viewer or creator) sees only their own statement: the URLs carry a month, never a
user id. Months before the user's first month, in the future, or malformed are a 404.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from payouts import statements


def _statement_or_404(request, month_text: str):
    month = statements.parse_month(month_text)
    if month is None or not statements.is_available(request.user, month):
        raise Http404("There is no statement for that month.")
    return statements.statement_for(request.user, month)


@require_GET
@login_required
def statement_list(request):
    months = statements.statement_months(request.user)
    return render(request, "payouts/statements.html", {"months": months, "current": statements.current_month()})


@require_GET
@login_required
def statement_detail(request, month: str):
    statement = _statement_or_404(request, month)
    template = f"payouts/statements_{statement.kind}.html"
    return render(request, template, {"statement": statement, "month_slug": f"{statement.month:%Y-%m}"})


@require_GET
@login_required
def statement_csv(request, month: str):
    statement = _statement_or_404(request, month)
    response = HttpResponse(statements.statement_csv(statement), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{statements.statement_filename(statement)}"'
    return response
