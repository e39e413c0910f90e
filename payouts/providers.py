"""Payout providers: who actually sends the money. A small interface a real provider implements.

`submit` must be idempotent on `payout.provider_key`: called twice for one payout (a task that
died after submitting and ran again) it returns the same transfer and pays nothing more. The
provider tells us the outcome later, asynchronously, through `payout_settle_by_provider_key`.

The default `sandbox` provider imitates one: it keeps its own transfer records (unique per
idempotency key), answers at once with a reference, and settles the transfer a few seconds later
from a Celery task. PayPal addresses starting with `decline` and bank accounts whose holder
name contains "Decline" are refused, so the failure path can be tried by hand.
"""

import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from payouts.models import Payout, PayoutMethodKind, SandboxPayoutTransfer

SANDBOX_SETTLE_SECONDS = 3


class PayoutProviderError(Exception):
    """A temporary problem talking to the provider; the task retries."""


class PayoutDeclined(Exception):
    """The provider refused the transfer for good; ``str(error)`` says why."""


class PayoutProvider:
    name = ""

    def submit(self, payout: Payout) -> str:
        """Start the transfer of `payout.net` to `payout.method`; returns the provider's reference."""
        raise NotImplementedError

    def status(self, reference: str) -> str:
        """'pending', 'paid' or 'failed' for a transfer this provider started."""
        raise NotImplementedError


class SandboxPayoutProvider(PayoutProvider):
    name = "sandbox"

    def submit(self, payout: Payout) -> str:
        method = payout.method
        destination = method.paypal_email if method.kind == PayoutMethodKind.PAYPAL else method.iban
        try:
            with transaction.atomic():
                transfer = SandboxPayoutTransfer.objects.create(
                    idempotency_key=payout.provider_key,
                    reference=f"sbx_po_{secrets.token_hex(8)}",
                    amount=payout.net,
                    destination=destination,
                )
        except IntegrityError:
            # Same idempotency key: the transfer already exists, exactly as a real provider answers.
            return SandboxPayoutTransfer.objects.get(idempotency_key=payout.provider_key).reference
        declined = (method.kind == PayoutMethodKind.PAYPAL and method.paypal_email.startswith("decline")) or (
            method.kind == PayoutMethodKind.BANK and "decline" in method.holder_name.lower()
        )
        # Deferred import: payouts.tasks imports this module (for PayoutProviderError and the sandbox).
        from payouts.tasks import sandbox_payout_settle  # noqa: PLC0415

        sandbox_payout_settle.apply_async(args=[transfer.pk, not declined], countdown=SANDBOX_SETTLE_SECONDS)
        return transfer.reference

    def status(self, reference: str) -> str:
        transfer = SandboxPayoutTransfer.objects.filter(reference=reference).first()
        return transfer.status if transfer else "failed"


def sandbox_transfer_finish(*, transfer_id: int, succeed: bool) -> SandboxPayoutTransfer:
    """The sandbox's side of a transfer ending: paid or failed once (a replay changes nothing)."""
    SandboxPayoutTransfer.objects.filter(pk=transfer_id, status="pending").update(
        status="paid" if succeed else "failed", settled_at=timezone.now()
    )
    return SandboxPayoutTransfer.objects.get(pk=transfer_id)


PROVIDERS = {SandboxPayoutProvider.name: SandboxPayoutProvider}


def provider_name() -> str:
    return settings.PAYOUT_PROVIDER


def get_provider(name: str) -> PayoutProvider:
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise PayoutProviderError(f"Unknown payout provider {name!r}.") from None
