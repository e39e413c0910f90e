"""Admin actions that call a money service for each selected row, asking staff for a reason first.

`reason_action(...)` builds a Django admin action: the first POST shows an intermediate page
(templates/admin/reason_action.html) listing the selected rows and asking for a reason; the
confirmation POST calls `perform(request, obj, reason)` for each row, one service call (and one
transaction) each, and reports what happened. A service's own error is shown, never a 500.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.contrib.admin import ModelAdmin, helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from backoffice.forms import ReasonForm

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise  # what gettext_lazy returns, as the stubs name it

AdminAction = Callable[[ModelAdmin, HttpRequest, QuerySet], TemplateResponse | None]


def reason_action(
    *,
    name: str,
    description: "StrOrPromise",
    perform: Callable[[HttpRequest, Any, str], object],
    errors: tuple[type[Exception], ...],
    done: "StrOrPromise",
    permissions: tuple[str, ...] = (),
) -> AdminAction:
    """An admin action named `name` that asks for a reason and then calls `perform` per selected object.

    `done` is what the action did to `%(count)s` objects, plural-aware:
    `ngettext_lazy("%(count)s payout approved.", "%(count)s payouts approved.", "count")`."""

    def action(modeladmin: ModelAdmin, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            _run(
                modeladmin,
                request,
                queryset,
                perform=lambda request, obj: perform(request, obj, reason),
                errors=errors,
                done=done,
            )
            return None
        return TemplateResponse(
            request,
            "admin/reason_action.html",
            {
                **modeladmin.admin_site.each_context(request),
                "title": description,
                "objects": list(queryset[:100]),
                "form": form,
                "action_name": name,
                "opts": modeladmin.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    action.__name__ = name
    return admin.action(description=description, permissions=permissions or None)(action)


def service_action(
    *,
    name: str,
    description: "StrOrPromise",
    perform: Callable[[HttpRequest, Any], object],
    errors: tuple[type[Exception], ...],
    done: "StrOrPromise",
    permissions: tuple[str, ...] = (),
) -> AdminAction:
    """An admin action named `name` that calls `perform(request, obj)` per selected object, no reason asked."""

    def action(modeladmin: ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        _run(modeladmin, request, queryset, perform=perform, errors=errors, done=done)

    action.__name__ = name
    return admin.action(description=description, permissions=permissions or None)(action)


def _run(
    modeladmin: ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    perform: Callable[[HttpRequest, Any], object],
    errors: tuple[type[Exception], ...],
    done: "StrOrPromise",
) -> None:
    count = 0
    for obj in queryset.order_by("pk"):
        try:
            perform(request, obj)
            count += 1
        except errors as error:
            # Translators: an admin action's error for one selected object: "Payout 12: Only staff review payouts."
            modeladmin.message_user(
                request, _("%(object)s: %(error)s") % {"object": obj, "error": error}, messages.ERROR
            )
    if count:
        modeladmin.message_user(request, done % {"count": count}, messages.SUCCESS)
