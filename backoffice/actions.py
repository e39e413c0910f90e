"""Admin actions that call a money service for each selected row, asking staff for a reason first.

`reason_action(...)` builds a Django admin action: the first POST shows an intermediate page
(templates/admin/reason_action.html) listing the selected rows and asking for a reason; the
confirmation POST calls `perform(request, obj, reason)` for each row, one service call (and one
transaction) each, and reports what happened. A service's own error is shown, never a 500.
"""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from backoffice.forms import ReasonForm


def reason_action(
    *,
    name: str,
    description: str,
    perform,
    errors: tuple[type[Exception], ...],
    done: str,
    permissions: tuple[str, ...] = (),
):
    """An admin action named `name` that asks for a reason and then calls `perform` per selected object."""

    def action(modeladmin, request, queryset):
        form = ReasonForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            _run(modeladmin, request, queryset, form.cleaned_data["reason"], perform=perform, errors=errors, done=done)
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
    description: str,
    perform,
    errors: tuple[type[Exception], ...],
    done: str,
    permissions: tuple[str, ...] = (),
):
    """An admin action named `name` that calls `perform(request, obj)` per selected object, no reason asked."""

    def action(modeladmin, request, queryset):
        _run(
            modeladmin,
            request,
            queryset,
            None,
            perform=lambda request, obj, _reason: perform(request, obj),
            errors=errors,
            done=done,
        )

    action.__name__ = name
    return admin.action(description=description, permissions=permissions or None)(action)


def _run(modeladmin, request, queryset, reason, *, perform, errors, done) -> None:
    count = 0
    for obj in queryset.order_by("pk"):
        try:
            perform(request, obj, reason)
            count += 1
        except errors as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
    if count:
        modeladmin.message_user(request, f"{count} {done}.", messages.SUCCESS)
