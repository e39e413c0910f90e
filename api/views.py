"""The site pages around the API: personal access tokens (account, behind the sudo re-check) and webhook
endpoints with their delivery log (studio, creators only, behind the sudo re-check). Secrets and tokens
are shown once, in the answer to the POST that made them, and never again."""

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from api import tokens, webhooks
from api.forms import TokenCreateForm, WebhookEndpointForm
from api.models import AccessToken, WebhookDelivery, WebhookEndpoint
from coinsite.accounts.http import AuthenticatedRequest
from coinsite.lib.access import creator_required, sudo_required

DELIVERY_LOG_LENGTH = 50


def _token_page(request: AuthenticatedRequest, *, form: TokenCreateForm | None = None, **extra: Any) -> HttpResponse:
    context = {
        "form": form or TokenCreateForm(),
        "tokens": AccessToken.objects.filter(user=request.user, revoked_at__isnull=True),
        **extra,
    }
    return render(request, "api/tokens.html", context, status=400 if form is not None and form.errors else 200)


@require_http_methods(["GET", "POST"])
@sudo_required
def token_list(request: AuthenticatedRequest) -> HttpResponse:
    if request.method == "GET":
        return _token_page(request)
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return _token_page(request, form=form)
    try:
        new = tokens.token_create(user=request.user, **form.cleaned_data)
    except tokens.TokenError as error:
        form.add_error(None, str(error))
        return _token_page(request, form=form)
    return _token_page(request, new_token=new)


@require_POST
@sudo_required
def token_revoke(request: AuthenticatedRequest, token_id: int) -> HttpResponse:
    if tokens.token_revoke(user=request.user, token_id=token_id):
        messages.success(request, _("The token was revoked: apps using it lose access at once."))
    else:
        messages.error(request, _("No such token."))
    return redirect("api:tokens")


def _webhook_page(
    request: AuthenticatedRequest, *, form: WebhookEndpointForm | None = None, **extra: Any
) -> HttpResponse:
    context = {
        "form": form or WebhookEndpointForm(),
        "endpoints": WebhookEndpoint.objects.filter(creator=request.user),
        "deliveries": WebhookDelivery.objects.filter(endpoint__creator=request.user)
        .select_related("endpoint")
        .order_by("-created_at", "-id")[:DELIVERY_LOG_LENGTH],
        **extra,
    }
    return render(request, "api/webhooks.html", context, status=400 if form is not None and form.errors else 200)


@require_http_methods(["GET", "POST"])
@creator_required
@sudo_required
def webhook_list(request: AuthenticatedRequest) -> HttpResponse:
    if request.method == "GET":
        return _webhook_page(request)
    form = WebhookEndpointForm(request.POST)
    if not form.is_valid():
        return _webhook_page(request, form=form)
    try:
        endpoint = webhooks.endpoint_create(creator=request.user, **form.cleaned_data)
    except webhooks.WebhookError as error:
        form.add_error(None, str(error))
        return _webhook_page(request, form=form)
    return _webhook_page(request, new_secret=endpoint)


@require_POST
@creator_required
@sudo_required
def webhook_rotate(request: AuthenticatedRequest, endpoint_id: int) -> HttpResponse:
    endpoint = webhooks.endpoint_secret_rotate(creator=request.user, endpoint_id=endpoint_id)
    if endpoint is None:
        messages.error(request, _("No such endpoint."))
        return redirect("api:webhooks")
    return _webhook_page(request, new_secret=endpoint, rotated=True)


@require_POST
@creator_required
@sudo_required
def webhook_delete(request: AuthenticatedRequest, endpoint_id: int) -> HttpResponse:
    if webhooks.endpoint_delete(creator=request.user, endpoint_id=endpoint_id):
        messages.success(request, _("The endpoint was deleted."))
    else:
        messages.error(request, _("No such endpoint."))
    return redirect("api:webhooks")


@require_POST
@creator_required
@sudo_required
def webhook_enable(request: AuthenticatedRequest, endpoint_id: int) -> HttpResponse:
    if webhooks.endpoint_enable(creator=request.user, endpoint_id=endpoint_id):
        messages.success(request, _("The endpoint is on again: new events will be delivered to it."))
    else:
        messages.error(request, _("No such disabled endpoint."))
    return redirect("api:webhooks")


@require_POST
@creator_required
@sudo_required
def delivery_replay(request: AuthenticatedRequest, delivery_id: int) -> HttpResponse:
    delivery = webhooks.delivery_replay(creator=request.user, delivery_id=delivery_id)
    if delivery is None:
        messages.error(request, _("No such delivery."))
    else:
        messages.success(
            request, _("Event %(event)s will be sent again in a few seconds.") % {"event": delivery.event_id}
        )
    return redirect("api:webhooks")
