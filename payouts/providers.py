"""Payout providers: who actually sends the money. A small interface a real provider implements.

`submit` must be idempotent on `payout.provider_key`: called twice for one payout (a task that
died after submitting and ran again) it returns the same transfer and pays nothing more. The
provider tells us the outcome later, asynchronously, through `payout_settle_by_provider_key`.

A provider also says what it can pay (`method_kinds`, `currencies`): methods it cannot pay are not
offered when a creator adds one, and a request to one is refused with `refusal`'s message.

The default `sandbox` provider imitates one: it keeps its own transfer records (unique per
idempotency key), answers at once with a reference, and settles the transfer a few seconds later
from a Celery task. PayPal addresses starting with `decline` and bank accounts whose holder
name contains "Decline" are refused, so the failure path can be tried by hand. `paypal`
(payouts/paypal.py) sends real PayPal Payouts.
"""

import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from payouts.models import Payout, PayoutMethodKind, SandboxPayoutTransfer

PROVIDERS = {
    "sandbox": "payouts.providers.SandboxPayoutProvider",
    "paypal": "payouts.paypal.PayPalPayoutProvider",
}
# How a sentence names where a method pays into.
METHOD_NOUNS: dict[str, Promise] = {
    PayoutMethodKind.BANK: gettext_lazy("a bank account"),
    PayoutMethodKind.PAYPAL: gettext_lazy("a PayPal account"),
}

SANDBOX_SETTLE_SECONDS = 3


class PayoutProviderError(Exception):
    """A temporary problem talking to the provider; the task retries."""


class PayoutDeclined(Exception):
    """The provider refused the transfer for good; ``str(error)`` says why."""


class PayoutProvider:
    name = ""
    label = ""
    method_kinds: frozenset[str] = frozenset(PayoutMethodKind.values)
    currencies: frozenset[str] | None = None  # None: every payout currency

    @classmethod
    def refusal(cls, *, kind: str, currency: str) -> str | None:
        """Why this provider cannot pay a method of this kind in this currency (for the creator), or None."""
        if kind not in cls.method_kinds:
            return _(
                "Payouts are sent with %(provider)s, which cannot pay into %(method)s: "
                "add %(supported)s as your payout method instead."
            ) % {
                "provider": cls.label,
                "method": METHOD_NOUNS[kind],
                "supported": ", ".join(str(METHOD_NOUNS[kind]) for kind in sorted(cls.method_kinds)),
            }
        if cls.currencies is not None and currency not in cls.currencies:
            return _(
                "Payouts are sent with %(provider)s, which cannot pay in %(currency)s: "
                "choose one of %(currencies)s for your payout method."
            ) % {"provider": cls.label, "currency": currency, "currencies": ", ".join(sorted(cls.currencies))}
        return None

    def submit(self, payout: Payout) -> str:
        """Start the transfer of `payout.net` to `payout.method`; returns the provider's reference."""
        raise NotImplementedError

    def status(self, reference: str) -> str:
        """'pending', 'paid' or 'failed' for a transfer this provider started."""
        raise NotImplementedError


class SandboxPayoutProvider(PayoutProvider):
    name = "sandbox"
    label = "the sandbox"

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


def provider_name() -> str:
    return settings.PAYOUT_PROVIDER


def provider_class(name: str | None = None) -> type[PayoutProvider]:
    """The provider called `name`, or the configured one (settings.PAYOUT_PROVIDER)."""
    name = name or provider_name()
    try:
        return import_string(PROVIDERS[name])
    except KeyError:
        raise PayoutProviderError(f"Unknown payout provider {name!r}.") from None


def get_provider(name: str) -> PayoutProvider:
    return provider_class(name)()


def method_refusal(*, kind: str, currency: str) -> str | None:
    """Why the configured provider cannot pay a method of this kind and currency, or None when it can."""
    return provider_class().refusal(kind=kind, currency=currency)
