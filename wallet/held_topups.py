"""Staff review of top-ups held because they were paid from another country than the account's.

Regional rules (prices, what may be bought) follow the account's effective country, so a payment
whose billing or card country differs is not credited (wallet.services) but waits here. Staff
either release it, which credits the coins exactly once, or record that they refunded it at the
provider, which credits nothing. Both are audited in the same transaction as the change.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from coinsite.accounts.models import User
from coinsite.accounts.staff_audit import model_snapshot, staff_action_record
from wallet.models import TopUp, TopUpStatus
from wallet.services import topup_credit
from wallet.staff import StaffOperationError, _check_staff, _clean_reason


def topup_release(*, topup_id: int, staff: User, reason: str) -> TopUp:
    """Credit a held top-up's coins (once: the top-up is locked and must still be held) and record who allowed it."""
    return _review(topup_id=topup_id, staff=staff, reason=reason, action="topup.release")


def topup_refund_held(*, topup_id: int, staff: User, reason: str) -> TopUp:
    """Record that a held top-up's payment was refunded at the provider; no coins are ever credited for it."""
    return _review(topup_id=topup_id, staff=staff, reason=reason, action="topup.refund_held")


def _review(*, topup_id: int, staff: User, reason: str, action: str) -> TopUp:
    _check_staff(staff)
    reason = _clean_reason(reason)
    with transaction.atomic(durable=True):
        topup = TopUp.objects.select_for_update(no_key=True).select_related("user").get(pk=topup_id)
        if topup.status != TopUpStatus.HELD:
            raise StaffOperationError(
                _("Only a held top-up can be reviewed; this one is %(status)s.")
                % {"status": topup.get_status_display()}
            )
        before = model_snapshot(topup)
        if action == "topup.release":
            topup_credit(topup=topup, reason=f"Released after review: {reason}"[:200])
        else:
            TopUp.objects.filter(pk=topup.pk).update(
                status=TopUpStatus.REFUNDED,
                status_reason=f"Refunded after review: {reason}"[:200],
                completed_at=timezone.now(),
                updated_at=timezone.now(),
            )
            topup.refresh_from_db()
        staff_action_record(
            actor=staff, action=action, target=topup, before=before, after=model_snapshot(topup), reason=reason
        )
    return topup
