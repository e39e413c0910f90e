"""The staff audit log: every staff action recorded with who, what, when, before and after.

`staff_action_record` is called inside the same transaction as the change it explains, so a
rolled-back change leaves no log line and a committed one always has one. `model_snapshot`
turns a model instance into the JSON the log keeps (money as "amount currency", dates ISO).
"""

from decimal import Decimal
from typing import Any

from django.db import models
from djmoney.money import Money

from coinsite.accounts.models import StaffAction, User

SECRET_FIELDS = {"password", "key", "token", "overlay_token", "iban", "paypal_email"}


def staff_action_record(
    *,
    actor: User,
    action: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: Any = "",
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
) -> StaffAction:
    """Append one line to the staff audit log (in the caller's transaction)."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
    return StaffAction.objects.create(
        actor=actor,
        action=action[:64],
        target_type=target_type[:100],
        target_id=str(target_id or "")[:64],
        target_repr=str(target)[:200] if target is not None else "",
        before=before,
        after=after,
        reason=reason,
    )


def model_snapshot(instance: models.Model | None) -> dict | None:
    """The instance's concrete field values as JSON-safe values; secrets are masked."""
    if instance is None:
        return None
    snapshot = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        snapshot[field.attname] = "••••" if field.name in SECRET_FIELDS and value else _json_value(value)
    return snapshot


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | list | dict):
        return value
    if isinstance(value, Money):
        return f"{value.amount} {value.currency.code}"
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
