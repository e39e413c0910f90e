"""Coinsite's public API, version 1 (django-ninja): `/api/v1/`, its OpenAPI document at `/api/v1/openapi.json`
and interactive docs at `/api/v1/docs` (self-hosted Swagger UI under the site's CSP). docs/api.md is the guide.

Operations are thin: check the caller's scope, call a selector or a service, shape the answer. Every
error is an RFC 9457 problem document from `coinsite.lib.errors`' catalogue. Every list is cursor-paged.
Only the caller's own wallet, earnings and payouts are reachable; there is no money-out operation at all.
"""

import logging
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Header, NinjaAPI, Status
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.openapi.docs import Swagger

from api import pagination
from api import schemas as s
from api.auth import CredentialThrottle, SessionAuth, TokenAuth, principal
from api.models import Scope
from api.services import api_gift_send
from coinsite.accounts.models import User
from coinsite.lib.errors import PROBLEM_CONTENT_TYPE, PROBLEM_STATUSES, CoinsiteError, problem
from gifting import presence, selectors
from gifting.live import replay
from gifting.live.events import GIFT, GOAL, LEADERBOARD, STREAM, VIEWERS
from gifting.models import Gift, LiveStream
from payouts.earnings import diamond_balances
from payouts.models import Payout
from payouts.selectors import stream_earnings
from wallet.ledger import user_balance
from wallet.models import Asset
from wallet.selectors import HistoryFilter, coin_account, history_entries, history_rows, recharge_offer
from wallet.valuation import Valuation

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,100}$"
ERRORS = {status: s.Problem for status in PROBLEM_STATUSES}


class SiteSwagger(Swagger):
    """django-ninja's Swagger UI from our own static files, its scripts carrying the page's CSP nonce."""

    template = "api/docs.html"


api = NinjaAPI(
    title="Coinsite API",
    version="1",
    description="Wallet, gifts, live streams and creator earnings for apps and stream tools. Guide: docs/api.md.",
    urls_namespace="api-v1",
    auth=[TokenAuth(), SessionAuth()],
    throttle=[CredentialThrottle()],
    docs=SiteSwagger(settings={"persistAuthorization": False}),
)


# --- Errors: every one a problem document ---------------------------------------------------------


def problem_response(request: HttpRequest, document: dict[str, Any], *, retry_after: int | None = None) -> HttpResponse:
    response = api.create_response(request, document, status=document["status"])
    response["Content-Type"] = PROBLEM_CONTENT_TYPE
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


@api.exception_handler(CoinsiteError)
def _coinsite_error(request: HttpRequest, error: CoinsiteError) -> HttpResponse:
    document = problem(error.error.code, error.detail, instance=request.path, **error.extra)
    return problem_response(request, document, retry_after=error.extra.get("retry_after"))


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    if any(list(item.get("loc", []))[:1] == ["header"] for item in error.errors):
        return problem_response(request, problem("idempotency_key_missing", instance=request.path))
    errors = [{"loc": list(item.get("loc", [])), "msg": str(item.get("msg", ""))} for item in error.errors]
    return problem_response(request, problem("validation_failed", instance=request.path, errors=errors))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    return problem_response(request, problem("not_found", instance=request.path))


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.exception("API operation %s %s failed", request.method, request.path, exc_info=error)
    return problem_response(request, problem("server_error", instance=request.path))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    if isinstance(error, AuthenticationError):
        return problem_response(request, problem("not_authenticated", instance=request.path))
    if isinstance(error, Throttled):
        retry_after = int(error.wait or 1) if hasattr(error, "wait") else 1
        return problem_response(
            request, problem("rate_limited", instance=request.path, retry_after=retry_after), retry_after=retry_after
        )
    if error.status_code == 403:  # django-ninja's CSRF refusal for the session
        return problem_response(request, problem("csrf_failed", instance=request.path))
    return problem_response(request, problem("invalid_request", str(error), instance=request.path))


# --- Me -----------------------------------------------------------------------------------------


@api.get("/me", response={200: s.MeOut, **ERRORS}, tags=["me"], summary="Who this credential acts for")
def me(request: HttpRequest) -> dict[str, Any]:
    caller = principal(request)
    user = caller.user
    return {
        "id": user.pk,
        "display_name": user.display_name,
        "country": str(user.country),
        "currency": user.preferred_currency,
        "is_creator": user.is_creator,
        "scopes": sorted(caller.scopes),
    }


# --- Wallet -------------------------------------------------------------------------------------


@api.get("/wallet", response={200: s.WalletOut, **ERRORS}, tags=["wallet"], summary="Coin balance and its value")
def wallet(request: HttpRequest) -> dict[str, Any]:
    user = principal(request, Scope.WALLET_READ).user
    valuation = Valuation()
    coins = user_balance(user, Asset.COIN)
    return {
        "coins": coins,
        "value": s.money_out(valuation.coins(coins, user.preferred_currency)),
        "per_coin": s.money_out(valuation.per_coin(user.preferred_currency), exact=True),
    }


@api.get("/wallet/history", response={200: s.HistoryPage, **ERRORS}, tags=["wallet"], summary="Coin history")
def wallet_history(
    request: HttpRequest, cursor: str | None = pagination.cursor_query(), limit: int = pagination.limit_query()
) -> dict[str, Any]:
    user = principal(request, Scope.WALLET_READ).user
    account = coin_account(user)
    page = pagination.page_of(
        history_entries(account, HistoryFilter()), time_field="created_at", cursor=cursor, limit=limit
    )
    rows = history_rows(account, page.items)
    return {
        "items": [
            {
                "id": row.entry_id,
                "created_at": row.created_at,
                "kind": row.kind,
                "description": str(row.description),
                "coins": row.coins,
                "balance_after": row.balance_after,
            }
            for row in rows
        ],
        "next_cursor": page.next_cursor,
    }


@api.get(
    "/wallet/packages", response={200: s.PackagesOut, **ERRORS}, tags=["wallet"], summary="Coin prices for my country"
)
def wallet_packages(request: HttpRequest) -> dict[str, Any]:
    user = principal(request, Scope.WALLET_READ).user
    offer = recharge_offer(user)
    rate = offer.rate
    return {
        "country": str(user.country),
        "currency": offer.currency,
        "available": not offer.unavailable_reason,
        "unavailable_reason": str(offer.unavailable_reason),
        "packages": [
            {
                "id": item.package.pk,
                "coins": item.package.coins,
                "bonus_coins": item.package.bonus_coins,
                "total_coins": item.package.total_coins,
                "price": s.money_out(item.price),
            }
            for item in offer.packages
        ],
        "custom_amount": None
        if rate is None or offer.unavailable_reason
        else {
            "per_coin": s.money_out(rate.per_coin, exact=True),
            "min_coins": rate.min_coins,
            "max_coins": rate.max_coins,
        },
        "payment_methods": offer.payment_methods,
    }


# --- Gifts and live streams -----------------------------------------------------------------------


def _gift_out(gift: Gift, valuation: Valuation, currency: str) -> dict[str, Any]:
    return {
        "id": gift.pk,
        "slug": gift.slug,
        "name": gift.name,
        "coin_cost": gift.coin_cost,
        "tier": gift.tier,
        "artwork_url": gift.artwork_url,
        "value": s.money_out(valuation.coins(gift.coin_cost, currency)),
    }


@api.get("/gifts", response={200: list[s.GiftOut], **ERRORS}, tags=["live"], summary="The gifts I can send")
def gifts(request: HttpRequest) -> list[dict[str, Any]]:
    user = principal(request).user
    valuation = Valuation()
    return [_gift_out(gift, valuation, user.preferred_currency) for gift in selectors.gift_catalogue(user)]


def _stream_out(stream: LiveStream) -> dict[str, Any]:
    return {
        "id": stream.pk,
        "title": stream.title,
        "creator": {"id": stream.creator_id, "display_name": stream.creator.display_name},
        "started_at": stream.started_at,
        "ended_at": stream.ended_at,
        "is_live": stream.is_live,
        "goal_coins": stream.goal_coins,
        "goal_label": stream.goal_label,
    }


def _streams() -> QuerySet[LiveStream]:
    return LiveStream.objects.select_related("creator")


@api.get("/streams", response={200: s.StreamPage, **ERRORS}, tags=["live"], summary="Streams live now")
def streams(
    request: HttpRequest, cursor: str | None = pagination.cursor_query(), limit: int = pagination.limit_query()
) -> dict[str, Any]:
    principal(request, Scope.LIVE_READ)
    page = pagination.page_of(
        _streams().filter(ended_at__isnull=True), time_field="started_at", cursor=cursor, limit=limit
    )
    return pagination.page_mapped(page, lambda items: [_stream_out(stream) for stream in items])


@api.get(
    "/streams/{stream_id}", response={200: s.StreamStateOut, **ERRORS}, tags=["live"], summary="A stream's state now"
)
def stream_state(request: HttpRequest, stream_id: int) -> dict[str, Any]:
    principal(request, Scope.LIVE_READ)
    stream = get_object_or_404(_streams(), pk=_id(stream_id))
    goal = selectors.stream_goal_progress(stream)
    return {
        "stream": _stream_out(stream),
        "viewers": presence.viewer_count(stream.pk) if stream.is_live else 0,
        "goal": None
        if goal is None
        else {
            "goal_coins": goal.goal_coins,
            "label": goal.label,
            "coins": goal.coins,
            "percent": goal.percent,
            "is_reached": goal.is_reached,
        },
        "leaderboard": [vars(entry) for entry in selectors.leaderboard(stream)],
    }


@api.get(
    "/streams/{stream_id}/events",
    response={200: s.EventStreamOut, **ERRORS},
    tags=["live"],
    summary="Where to read a stream's live events (Server-Sent Events)",
)
def stream_events(request: HttpRequest, stream_id: int) -> dict[str, Any]:
    user = principal(request, Scope.LIVE_READ).user
    stream = get_object_or_404(LiveStream.objects.only("pk", "creator_id"), pk=_id(stream_id))
    token = presence.viewer_token(stream_id=stream.pk, user_id=user.pk, creator_id=stream.creator_id)
    query = urlencode({"v": token, "after": replay.page_cursor([replay.gifts_latest(stream)])})
    return {
        "url": request.build_absolute_uri(f"{reverse('gifting:events', args=[stream.pk])}?{query}"),
        "poll_url": request.build_absolute_uri(reverse("gifting:poll", args=[stream.pk])),
        "event_types": [GIFT, GOAL, STREAM, VIEWERS, LEADERBOARD],
    }


@api.post(
    "/streams/{stream_id}/gifts",
    response={201: s.GiftSentOut, **ERRORS},
    tags=["live"],
    summary="Send a gift (needs an Idempotency-Key header)",
)
def gift_send(
    request: HttpRequest,
    stream_id: int,
    body: s.GiftIn,
    idempotency_key: str = Header(
        ...,
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="1 to 100 visible ASCII characters (a UUID is ideal); retries with one key never charge twice",
    ),
) -> Status:
    caller = principal(request, Scope.GIFTS_SEND)
    sent = api_gift_send(
        user=caller.user,
        token=caller.token,
        stream_id=_id(stream_id),
        gift_id=body.gift_id,
        quantity=body.quantity,
        anonymous=body.anonymous,
        confirmed=body.confirm,
        idempotency_key=idempotency_key,
    )
    event, valuation, currency = sent.event, Valuation(), caller.user.preferred_currency
    coins = user_balance(caller.user, Asset.COIN)
    return Status(
        201,
        {
            "id": event.pk,
            "stream_id": event.stream_id,
            "gift": _gift_out(sent.gift, valuation, currency),
            "quantity": event.quantity,
            "coins": event.coins,
            "anonymous": event.is_anonymous,
            "created_at": event.created_at,
            "balance": {"coins": coins, "value": s.money_out(valuation.coins(coins, currency))},
            "replayed": sent.replayed,
        },
    )


# --- Creator earnings and payouts (read-only: money-out is never available through the API) ------------


def _creator(request: HttpRequest, scope: str) -> User:
    user = principal(request, scope).user
    if not user.is_creator:
        raise CoinsiteError("not_a_creator")
    return user


def _diamonds(valuation: Valuation, diamonds: int) -> dict[str, Any]:
    return {"diamonds": diamonds, "value": s.money_out(valuation.diamonds(diamonds))}


@api.get("/earnings", response={200: s.EarningsOut, **ERRORS}, tags=["creator"], summary="My diamonds and their value")
def earnings(request: HttpRequest) -> dict[str, Any]:
    creator = _creator(request, Scope.EARNINGS_READ)
    valuation = Valuation()
    balances = diamond_balances(creator)
    return {
        "total": _diamonds(valuation, balances.total),
        "available": _diamonds(valuation, balances.available),
        "on_hold": _diamonds(valuation, balances.on_hold),
        "in_payout": _diamonds(valuation, balances.in_payout),
        "per_diamond": s.money_out(valuation.per_diamond, exact=True),
    }


@api.get(
    "/earnings/streams",
    response={200: s.StreamEarningsPage, **ERRORS},
    tags=["creator"],
    summary="What each of my streams earned",
)
def earnings_streams(
    request: HttpRequest, cursor: str | None = pagination.cursor_query(), limit: int = pagination.limit_query()
) -> dict[str, Any]:
    creator = _creator(request, Scope.EARNINGS_READ)
    position = pagination.cursor_decode(cursor)
    valuation = Valuation()
    found = stream_earnings(
        creator,
        valuation=valuation,
        limit=limit + 1,
        before=None if position is None else (position.at, position.id),
    )
    items = found[:limit]
    for item in items:
        item.stream.creator = creator  # every stream here is the caller's: no query for its creator
    last = items[-1].stream if items else None
    return {
        "items": [
            {
                "stream": _stream_out(item.stream),
                "gifts": item.gifts,
                "earned": {"diamonds": item.diamonds.diamonds, "value": s.money_out(item.diamonds.value)},
            }
            for item in items
        ],
        "next_cursor": pagination.cursor_encode(last.started_at, last.pk) if last and len(found) > limit else None,
    }


@api.get("/payouts", response={200: s.PayoutPage, **ERRORS}, tags=["creator"], summary="My payouts (read-only)")
def payouts(
    request: HttpRequest, cursor: str | None = pagination.cursor_query(), limit: int = pagination.limit_query()
) -> dict[str, Any]:
    creator = _creator(request, Scope.PAYOUTS_READ)
    rows = Payout.objects.filter(creator=creator).select_related("method")
    page = pagination.page_of(rows, time_field="requested_at", cursor=cursor, limit=limit)
    return pagination.page_mapped(page, lambda items: [_payout_out(payout) for payout in items])


def _payout_out(payout: Payout) -> dict[str, Any]:
    return {
        "id": str(payout.public_id),
        "diamonds": payout.diamonds,
        "status": payout.status,
        "value": s.money_out(payout.value),
        "currency": payout.currency,
        "gross": s.money_out(payout.gross),
        "fee": s.money_out(payout.fee),
        "net": s.money_out(payout.net),
        "method_kind": payout.method.kind,  # never the account details
        "requested_at": payout.requested_at,
        "finished_at": payout.finished_at,
    }


def _id(value: int) -> int:
    """Ids beyond PostgreSQL's bigint are simply not found (not a database error)."""
    if not 0 < value < 2**63:
        raise CoinsiteError("not_found")
    return value


# --- The OpenAPI document: error answers are problem documents ------------------------------------------


def _openapi_with_problem_content(document: dict[str, Any]) -> dict[str, Any]:
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, answer in operation.get("responses", {}).items():
                content = answer.get("content", {})
                if int(status) >= 400 and "application/json" in content:
                    answer["content"] = {PROBLEM_CONTENT_TYPE: content["application/json"]}
    return document


_ninja_schema = api.get_openapi_schema


def _schema(*, path_prefix: str | None = None, path_params: dict[str, Any] | None = None) -> Any:
    return _openapi_with_problem_content(_ninja_schema(path_prefix=path_prefix, path_params=path_params))


api.get_openapi_schema = _schema  # type: ignore[method-assign]
