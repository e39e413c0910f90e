"""PayPal Payouts (REST API v1): sends creators' payouts to their PayPal accounts.

One payout is one batch of one item. The batch's `sender_batch_id` is the payout's fixed
`provider_key`, and so is the PayPal-Request-Id header: PayPal pays a sender_batch_id once within 30
days and answers a repeat by pointing at the first batch, so a task that died after PayPal took the
payout and runs again pays nothing more. The outcome is read back with
GET /v1/payments/payouts/{payout_batch_id} when the payouts sweep asks about submitted payouts.

Plain HTTPS through an injectable transport (PayPal's Python Payouts SDK is deprecated), so the
tests run offline against a fake PayPal, as the Stripe provider's do with an injected HTTP client.
"""

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from djmoney.money import Money

from payouts.models import Payout, PayoutMethodKind
from payouts.providers import PayoutDeclined, PayoutProvider, PayoutProviderError
from wallet.money import currency_exponent, quantize

logger = logging.getLogger(__name__)

API_BASES = {"sandbox": "https://api-m.sandbox.paypal.com", "live": "https://api-m.paypal.com"}
# Our payout currencies PayPal pays into any account (its Payouts currency codes); BRL and INR only
# between accounts in Brazil and India, KRW not at all.
CURRENCIES = frozenset({"AUD", "CAD", "EUR", "GBP", "JPY", "MXN", "USD"})
# Item states after which PayPal will not pay; anything else (PENDING, UNCLAIMED, ONHOLD) is not final.
FAILED_ITEM_STATES = frozenset({"FAILED", "RETURNED", "BLOCKED", "REFUNDED", "REVERSED", "DENIED", "CANCELED"})
FAILED_BATCH_STATES = frozenset({"DENIED", "CANCELED"})
# Refusals that are about our account or PayPal, not the creator's: wait and try again.
RETRY_LATER = frozenset({"INSUFFICIENT_FUNDS", "RATE_LIMIT_REACHED", "INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"})

# (method, url, headers, body, timeout) -> (HTTP status, response body)
Transport = Callable[[str, str, Mapping[str, str], bytes | None, float], tuple[int, bytes]]

# OAuth2 access tokens, per API and client id, until shortly before they expire.
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def urllib_transport(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
) -> tuple[int, bytes]:
    if urlsplit(url).scheme != "https":
        raise ValueError(f"PayPal is only called over https, not {url!r}.")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https checked)
            return response.status, response.read()
    except urllib.error.HTTPError as error:  # a non-2xx answer, not a connection failure
        return error.code, error.read()


class PayPalPayoutProvider(PayoutProvider):
    name = "paypal"
    label = "PayPal"
    method_kinds = frozenset({PayoutMethodKind.PAYPAL})
    currencies = CURRENCIES

    def __init__(
        self,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        mode: str | None = None,
        transport: Transport | None = None,
        timeout: float | None = None,
    ) -> None:
        self.client_id = client_id or settings.PAYPAL_CLIENT_ID
        self.client_secret = client_secret or settings.PAYPAL_CLIENT_SECRET
        mode = mode or settings.PAYPAL_MODE
        if not (self.client_id and self.client_secret) or mode not in API_BASES:
            raise ImproperlyConfigured(
                "PayPal payouts need PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET and PAYPAL_MODE (sandbox or live)."
            )
        self.base = API_BASES[mode]
        self.transport = transport or urllib_transport
        self.timeout = timeout or settings.PAYPAL_TIMEOUT

    def submit(self, payout: Payout) -> str:
        method = payout.method
        refusal = self.refusal(kind=method.kind, currency=method.currency)
        if refusal:
            raise PayoutDeclined(refusal)
        key = str(payout.provider_key)
        status, body = self._api("POST", "/v1/payments/payouts", _batch(payout), request_id=key)
        if status == 201:
            return _text(body, "batch_header", "payout_batch_id")
        if _is_repeat(status, body):
            logger.info("PayPal already has batch %s; using it", key)
            return _first_batch_id(body)
        raise _submit_error(status, body)

    def status(self, reference: str) -> str:
        status, body = self._api("GET", f"/v1/payments/payouts/{quote(reference, safe='')}")
        if status != 200:
            raise PayoutProviderError(f"PayPal answered HTTP {status} about batch {reference}: {_reason(body)}")
        return _state(body)

    def _api(self, method: str, path: str, payload: dict | None = None, *, request_id: str = "") -> tuple[int, dict]:
        """One API call; an expired token (401) is renewed once."""
        for fresh in (False, True):
            headers = {"Authorization": f"Bearer {self._token(fresh=fresh)}", "Accept": "application/json"}
            if payload is not None:
                headers["Content-Type"] = "application/json"
            if request_id:
                headers["PayPal-Request-Id"] = request_id
            data = json.dumps(payload).encode() if payload is not None else None
            status, body = self._send(method, self.base + path, headers, data)
            if status != 401:
                return status, body
        raise PayoutProviderError("PayPal refused a new access token: check PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET.")

    def _token(self, *, fresh: bool) -> str:
        key = (self.base, self.client_id)
        with _tokens_lock:
            cached = _tokens.get(key)
        if cached and not fresh and cached[1] > time.monotonic():
            return cached[0]
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        headers = {
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        status, body = self._send("POST", f"{self.base}/v1/oauth2/token", headers, b"grant_type=client_credentials")
        if status != 200 or not body.get("access_token"):
            raise PayoutProviderError(
                f"PayPal gave no access token (HTTP {status}): "
                "check PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET and PAYPAL_MODE."
            )
        token, lifetime = body["access_token"], int(body.get("expires_in") or 0)
        with _tokens_lock:
            _tokens[key] = (token, time.monotonic() + lifetime - 60)
        return token

    def _send(self, method: str, url: str, headers: dict, data: bytes | None) -> tuple[int, dict]:
        try:
            status, raw = self.transport(method, url, headers, data, self.timeout)
        except OSError as error:  # refused, reset, timed out: PayPal may or may not have it; retry is safe
            raise PayoutProviderError(f"Could not reach PayPal: {error}") from error
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PayoutProviderError(f"PayPal answered HTTP {status} with a body that is not a JSON object.")
        return status, body


def _batch(payout: Payout) -> dict:
    key = str(payout.provider_key)
    return {
        "sender_batch_header": {
            "sender_batch_id": key,
            "recipient_type": "EMAIL",
            "email_subject": _("You have a payout from Coinsite"),
            "email_message": _("Your Coinsite earnings are on their way to this PayPal account."),
        },
        "items": [
            {
                "recipient_type": "EMAIL",
                "receiver": payout.method.paypal_email,
                "amount": {"value": _value(payout.net), "currency": payout.net.currency.code},
                "sender_item_id": key,
                "note": _("Coinsite payout %(id)s") % {"id": payout.public_id},
            }
        ],
    }


def _value(amount: Money) -> str:
    """The amount as PayPal writes it: the currency's decimals, no more (49.00 USD, 7418 JPY)."""
    return f"{quantize(amount).amount:.{currency_exponent(amount.currency)}f}"


def _is_repeat(status: int, body: dict) -> bool:
    """PayPal's answer to a sender_batch_id it has seen in the last 30 days."""
    details = body.get("details") or []
    return status == 400 and any(
        isinstance(detail, dict) and str(detail.get("field", "")).upper() == "SENDER_BATCH_ID" for detail in details
    )


def _first_batch_id(body: dict) -> str:
    """The repeat answer links to the first batch (…/v1/payments/payouts/<payout_batch_id>)."""
    for link in body.get("links") or []:
        path = urlsplit(str(link.get("href", "")) if isinstance(link, dict) else "").path
        prefix, _slash, batch_id = path.rpartition("/")
        if prefix.endswith("/v1/payments/payouts") and batch_id:
            return batch_id
    raise PayoutProviderError("PayPal already has this payout's batch but did not say which; staff must look it up.")


def _submit_error(status: int, body: dict) -> Exception:
    name = str(body.get("name", ""))
    if status >= 500 or status in (401, 403, 429) or name in RETRY_LATER:
        logger.warning("PayPal did not take a payout (HTTP %s %s): %s", status, name, _reason(body))
        return PayoutProviderError(f"PayPal answered HTTP {status} {name}: {_reason(body)}")
    return PayoutDeclined(_("PayPal refused the payout: %(reason)s") % {"reason": _reason(body)})


def _reason(body: dict) -> str:
    details = [detail for detail in body.get("details") or [] if isinstance(detail, dict)]
    reason = (details[0].get("description") or details[0].get("issue")) if details else None
    return str(reason or body.get("message") or body.get("name") or "no reason given")[:200]


def _state(body: dict) -> str:
    """'paid', 'failed' or 'pending' from a GET of the batch (one item: the payout)."""
    if (body.get("batch_header") or {}).get("batch_status") in FAILED_BATCH_STATES:
        return "failed"
    items = body.get("items") or []
    state = items[0].get("transaction_status") if items and isinstance(items[0], dict) else None
    if state == "SUCCESS":
        return "paid"
    return "failed" if state in FAILED_ITEM_STATES else "pending"


def _text(body: dict, *keys: str) -> str:
    value: object = body
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise PayoutProviderError(f"PayPal's answer has no {'.'.join(keys)}.")
    return value
