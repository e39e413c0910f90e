"""Admin building blocks: read-only money records, and a staff audit line for every edit.

`ReadOnlyAdminMixin`: money records (ledger, top-ups, gifts sent, payouts, statements, the audit
log itself) are never added, edited or deleted in admin, by anyone, superusers included:
corrections are new ledger transactions posted by services. Only the view permission counts.

`AuditedAdminMixin`: every add, change and delete made in admin lands in the staff audit log, in
the same transaction. Admin's own LogEntry keeps a change message only; the staff log keeps the row before and after.
Admin already runs `save_model` (form and list_editable), `save_related` and `delete_model` inside
`transaction.atomic()`; bulk deletes are wrapped here, so a failed save leaves no log line and a
saved one always has one.
"""

from typing import TYPE_CHECKING, cast

from django.db import router, transaction
from django.db.models import Model, QuerySet
from django.forms import BaseFormSet, BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from coinsite.accounts.models import User
from coinsite.accounts.staff_audit import model_snapshot, staff_action_record

if TYPE_CHECKING:  # the mixins go in front of a ModelAdmin (or an inline); type checkers need to know which
    from django.contrib.admin import ModelAdmin as _ModelAdminBase
    from django.contrib.admin.options import BaseModelAdmin as _ReadOnlyBase
else:
    _ModelAdminBase = _ReadOnlyBase = object


def _stored(instance: Model) -> Model | None:
    """The row as the database has it now (the form has already written its values onto `instance`)."""
    if instance.pk is None:
        return None
    return type(instance)._default_manager.filter(pk=instance.pk).first()


def _m2m_snapshot(instance: Model) -> dict[str, list[object]]:
    if instance.pk is None:
        return {}
    return {
        field.name: sorted(getattr(instance, field.name).values_list("pk", flat=True))
        for field in instance._meta.many_to_many
    }


def staff_member(request: HttpRequest) -> User:
    """The signed-in staff member (admin serves nobody else: CoinsiteAdminSite checks staff and 2FA)."""
    return cast(User, request.user)


class ReadOnlyAdminMixin(_ReadOnlyBase):
    """No add, change or delete through admin for anyone; viewing needs the model's view permission."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class AuditedAdminMixin(_ModelAdminBase):
    """Records "add", "change" and "delete" (with before/after snapshots) for the admin's model and
    its inlines; many-to-many changes (a user's groups) get their own "change" line."""

    def save_model(self, request: HttpRequest, obj: Model, form: ModelForm, change: bool) -> None:
        before = model_snapshot(_stored(obj)) if change else None
        with transaction.atomic(using=router.db_for_write(type(obj))):
            super().save_model(request, obj, form, change)
            if not change or before != model_snapshot(obj):
                staff_action_record(
                    actor=staff_member(request),
                    action="change" if change else "add",
                    target=obj,
                    before=before,
                    after=model_snapshot(obj),
                )

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool) -> None:
        instance = form.instance
        before = _m2m_snapshot(instance)
        super().save_related(request, form, formsets, change)
        after = _m2m_snapshot(instance)
        if before != after:
            staff_action_record(
                actor=staff_member(request),
                action="change",
                target=instance,
                before=before,
                after=after,
                reason="Many-to-many fields changed.",
            )

    def save_formset(self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool) -> None:
        stored = {
            row.pk: model_snapshot(row)
            for row in cast(type[Model], formset.model)._default_manager.filter(
                pk__in=[inline_form.instance.pk for inline_form in formset.initial_forms if inline_form.instance.pk]
            )
        }
        deleted = {
            inline_form.instance.pk: inline_form.instance
            for inline_form in formset.deleted_forms
            if inline_form.instance.pk
        }
        super().save_formset(request, form, formset, change)
        for row in formset.new_objects:
            staff_action_record(actor=staff_member(request), action="add", target=row, after=model_snapshot(row))
        for row, _fields in formset.changed_objects:
            staff_action_record(
                actor=staff_member(request),
                action="change",
                target=row,
                before=stored.get(row.pk),
                after=model_snapshot(row),
            )
        for pk, row in deleted.items():
            staff_action_record(
                actor=staff_member(request), action="delete", target=row, target_id=pk, before=stored.get(pk)
            )

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        pk, before = obj.pk, model_snapshot(_stored(obj))
        with transaction.atomic(using=router.db_for_write(type(obj))):
            staff_action_record(actor=staff_member(request), action="delete", target=obj, target_id=pk, before=before)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with transaction.atomic(using=router.db_for_write(queryset.model)):
            for obj in queryset.order_by("pk"):
                staff_action_record(
                    actor=staff_member(request), action="delete", target=obj, before=model_snapshot(obj)
                )
            super().delete_queryset(request, queryset)


class SingletonAdminMixin(_ModelAdminBase):
    """A one-row settings model (`coinsite.lib.singletons.SingletonModel`): added once, never deleted."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_add_permission(request) and not self.model._default_manager.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
