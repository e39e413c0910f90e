"""The live pages: who is live, a stream with its gift bar and live feed, sending gifts, creators, the studio."""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.csp import CSP
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from djmoney.money import Money

from coinsite.accounts.http import AuthenticatedRequest
from coinsite.lib import metrics
from coinsite.lib.access import creator_required
from coinsite.lib.l10n import gift_name_local
from coinsite.lib.replica import replica_reads
from coinsite.lib.urls import safe_next
from gifting import chat, presence, selectors, services
from gifting.forms import (
    ChatSettingsForm,
    CreatorProfileForm,
    GiftingPreferencesForm,
    GiftSendForm,
    GoalForm,
    GoLiveForm,
    new_idempotency_key,
)
from gifting.live import replay
from gifting.live.events import gift_payload
from gifting.live.publish import poll_cache_key
from gifting.models import (
    CHAT_MAX_LENGTH,
    GIFT_MESSAGE_MAX_LENGTH,
    CreatorProfile,
    Gift,
    GiftDisplay,
    GiftingPreferences,
    GiftingSettings,
    GiftTier,
    LiveStream,
)
from gifting.stream_links import stream_link_origin
from wallet.ledger import user_balance
from wallet.models import Asset
from wallet.money import format_money as money_text
from wallet.templatetags.wallet_money import coins_amount
from wallet.valuation import Valuation, display_currency, request_valuation

BIG_TIERS = (GiftTier.LARGE, GiftTier.EPIC)
FEED_LIMIT = 20
CHAT_LIMIT = 30
OVERLAY_LIMIT = 5
# The poll document under WSGI (under ASGI the hub keeps it); each publish deletes it sooner.
POLL_CACHE_SECONDS = 2
GIFT_ERROR_STATUS = {
    services.InvalidGiftRequest: 400,
    services.GiftNotAllowed: 403,
    services.NotEnoughCoins: 402,
    services.IdempotencyKeyReused: 409,
    services.GiftRateLimited: 429,
}


@dataclass(frozen=True)
class IncomingGift:
    item: selectors.FeedItem
    diamonds: int
    value: Money


@dataclass(frozen=True)
class GiftOption:
    gift: Gift
    value: Money | None


def index(request: HttpRequest) -> HttpResponse:
    cards = selectors.live_cards()
    services.live_cards_counts_save(cards=cards)
    per_coin = request_valuation(request).per_coin(display_currency(request.user))
    return render(request, "gifting/index.html", {"cards": cards, "per_coin": per_coin})


def _stream_or_404(stream_id: int) -> LiveStream:
    return get_object_or_404(LiveStream.objects.select_related("creator", "creator__creator_profile"), pk=stream_id)


def _viewers(stream: LiveStream) -> int:
    """Viewers with the stream open now (gifting.presence); loading a page or polling counts nobody."""
    return presence.viewer_count(stream.pk) if stream.is_live else 0


def _live_context(
    stream: LiveStream,
    *,
    viewer_id: int | None,
    feed: Sequence[selectors.FeedItem],
    per_coin: Money | None,
    chat_ids: Sequence[int] = (),
) -> dict[str, Any]:
    """What static/js/live.js needs: where the stream's events and poll document are, and how to value coins.

    The events address carries the viewer's signed token (who is counted as watching) and the newest
    gift and chat message rendered (so the stream starts right after them).
    """
    token = presence.viewer_token(stream_id=stream.pk, user_id=viewer_id, creator_id=stream.creator_id)
    query = urlencode({"v": token, "after": replay.page_cursor((item.event_id for item in feed), chat_ids)})
    return {
        "live_events_url": f"{reverse('gifting:events', args=[stream.pk])}?{query}",
        "live_poll_url": reverse("gifting:poll", args=[stream.pk]),
        "live_per_coin": str(per_coin.amount) if per_coin else "",
        "live_currency": per_coin.currency.code if per_coin else "",
        "live_locale": get_language() or settings.LANGUAGE_CODE,
    }


def _big_event_ids(items: Sequence[selectors.FeedItem]) -> set[int]:
    """The gifts the feed and the overlay celebrate (large and epic tiers), read from the feed itself."""
    return {item.event_id for item in items if item.gift_tier in BIG_TIERS}


def _feed_context(stream: LiveStream, *, viewers: int, currency: str, valuation: Valuation) -> dict:
    items = selectors.recent_gifts(stream, limit=FEED_LIMIT)
    big_ids = _big_event_ids(items)
    chat_messages = replay.recent_chat(stream.pk, CHAT_LIMIT)
    return {
        "stream": stream,
        "feed": items,
        "chat_messages": chat_messages,
        "room_log": _room_log(items, chat_messages),
        "big_event_ids": big_ids,
        "leaders": selectors.leaderboard(stream),
        "goal": selectors.stream_goal_progress(stream),
        "viewers": viewers,
        "per_coin": valuation.per_coin(currency),  # one price lookup for every amount on the page
    }


@dataclass(frozen=True)
class LogItem:
    """One line of the room's log (chat and gifts in one feed, oldest first): a gift or a chat payload."""

    gift: selectors.FeedItem | None = None
    chat: dict | None = None


def _room_log(gifts: Sequence[selectors.FeedItem], chat_messages: Sequence[dict]) -> list[LogItem]:
    items = [(gift.created_at.isoformat(), LogItem(gift=gift)) for gift in gifts]
    items += [(message["created_at"], LogItem(chat=message)) for message in chat_messages]
    return [item for _at, item in sorted(items, key=lambda pair: pair[0])]


def _gift_bar_context(request: HttpRequest, stream: LiveStream, form: GiftSendForm | None = None) -> dict:
    user = request.user
    if not user.is_authenticated or not stream.is_live:
        return {}
    currency = display_currency(user)
    valuation = request_valuation(request)
    balance = user_balance(user, Asset.COIN)
    preferences = _preferences_context(cast(AuthenticatedRequest, request), next_url=request.get_full_path())
    is_own_stream = stream.creator_id == user.pk
    block = None if is_own_stream else _gift_block(cast(AuthenticatedRequest, request), stream, balance)
    if block is not None:
        return {"gift_block": block, **preferences, "is_own_stream": False}
    return {
        "gift_options": [
            GiftOption(gift=gift, value=valuation.coins(gift.coin_cost, currency))
            for gift in selectors.gift_catalogue(user)
        ],
        "gift_form": form or GiftSendForm(initial={"quantity": 1, "idempotency_key": new_idempotency_key()}),
        "balance": valuation.coin_amount(balance, currency),
        **preferences,
        "is_own_stream": is_own_stream,
    }


@dataclass(frozen=True)
class GiftBlock:
    """Why the viewer cannot send gifts here now, and the one thing that would help (if any)."""

    code: str
    reason: str
    action_url: str = ""
    action_label: str = ""


def _gift_block(request: AuthenticatedRequest, stream: LiveStream, balance: int) -> GiftBlock | None:
    """Shown instead of the gift bar when no gift could be sent: the first rule in the way, or no coins."""
    refusal = services.gift_block(sender=request.user, stream_id=stream.pk)
    if refusal is None:
        if balance > 0:
            return None
        no_coins = _("You have no coins yet. Buy some to send gifts to %(creator)s.") % {
            "creator": _creator_name(stream)
        }
        return GiftBlock("no_coins", no_coins, reverse("wallet:recharge"), _("Buy coins"))
    name, label = _GIFT_BLOCK_ACTIONS.get(refusal.code, ("", ""))
    url = f"mailto:{settings.SUPPORT_EMAIL}" if refusal.code == "frozen" else (reverse(name) if name else "")
    return GiftBlock(refusal.code, refusal.reason, url, str(label))


# What a viewer can do about each rule that stops them gifting (gifting.services.gift_block codes).
_GIFT_BLOCK_ACTIONS = {
    "age_unknown": ("accounts:profile", gettext_lazy("Add your birth date")),
    "frozen": ("", gettext_lazy("Contact support")),
    "receivable": ("wallet:recharge", gettext_lazy("Buy coins")),
    "spending_excluded": ("wallet:controls", gettext_lazy("See your pause")),
    "spending_daily": ("wallet:controls", gettext_lazy("See your budgets")),
    "spending_monthly": ("wallet:controls", gettext_lazy("See your budgets")),
    "creator_unavailable": ("gifting:index", gettext_lazy("Watch other live streams")),
}


def _preferences_context(
    request: AuthenticatedRequest, *, next_url: str = "", form: GiftingPreferencesForm | None = None
) -> dict:
    """The viewer's gifting preferences form, and the confirmation thresholds (site's and theirs) with money values."""
    user = request.user
    preferences = GiftingPreferences.objects.filter(user=user).first()
    staff_threshold = GiftingSettings.load().gift_confirm_above_coins
    personal = preferences.confirm_above_coins if preferences else None
    threshold = min(staff_threshold, personal) if personal else staff_threshold
    currency = display_currency(user)
    valuation = request_valuation(request)
    if form is None:
        form = GiftingPreferencesForm(
            staff_threshold=staff_threshold,
            initial={
                "hide_from_leaderboards": bool(preferences and preferences.hide_from_leaderboards),
                "confirm_above_coins": personal,
                "next": next_url,
            },
        )
    return {
        "preferences_form": form,
        "site_threshold": valuation.coin_amount(staff_threshold, currency),
        "confirm_threshold": valuation.coin_amount(threshold, currency),
        "has_personal_threshold": personal is not None and personal < staff_threshold,
    }


def _render_stream(
    request: HttpRequest,
    stream: LiveStream,
    *,
    form: GiftSendForm | None = None,
    error: str = "",
    extra: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    feed_context = _feed_context(
        stream, viewers=_viewers(stream), currency=display_currency(request.user), valuation=request_valuation(request)
    )
    context = {
        **feed_context,
        **_live_context(
            stream,
            viewer_id=request.user.pk if request.user.is_authenticated else None,
            feed=feed_context["feed"],
            per_coin=feed_context["per_coin"],
            chat_ids=[message["id"] for message in feed_context["chat_messages"]],
        ),
        **_gift_bar_context(request, stream, form),
        "gift_error": error,
        "can_moderate": chat.chat_can_moderate(user=request.user, stream=stream),  # type: ignore[arg-type]
        "chat_max_length": CHAT_MAX_LENGTH,
        "gift_message_max_length": GIFT_MESSAGE_MAX_LENGTH,
        **(extra or {}),
    }
    response = render(request, "gifting/stream.html", context, status=status)
    if stream.is_live and stream.stream_url:
        _allow_media_from(response, stream.stream_url)
    return response


def _allow_media_from(response: HttpResponse, url: str) -> None:
    """Let this page's <video> load the creator's stream (media-src otherwise falls back to 'self').

    The source is rebuilt from a validated link, never copied from it; a link stored before the
    strict check that does not pass it adds nothing.
    """
    origin = stream_link_origin(url)
    if origin is not None:
        # Native HLS (Safari, iOS) loads the playlist and segments into the <video> itself (media-src); hls.js
        # fetches them (connect-src) and plays them through Media Source Extensions, a blob: URL (media-src).
        response._csp_config = {  # type: ignore[attr-defined]  # what @csp_override sets
            **settings.SECURE_CSP,
            "media-src": [CSP.SELF, "blob:", origin],
            "connect-src": [*cast(list[str], settings.SECURE_CSP.get("connect-src", [CSP.SELF])), origin],
        }


def stream(request: HttpRequest, stream_id: int) -> HttpResponse:
    return _render_stream(request, _stream_or_404(stream_id))


@never_cache
@require_GET
def feed(request: HttpRequest, stream_id: int) -> HttpResponse:
    """The feed, leaderboard, goal and viewer count as the page's HTML fragment, in the viewer's currency."""
    stream = _stream_or_404(stream_id)
    return render(
        request,
        "gifting/_feed_fragment.html",
        _feed_context(
            stream,
            viewers=_viewers(stream),
            currency=display_currency(request.user),
            valuation=request_valuation(request),
        ),
    )


@never_cache
@require_GET
def events(request: HttpRequest, stream_id: int) -> HttpResponse:
    """Under WSGI only: 204 tells the browser's EventSource to stop, and `static/js/live.js` polls instead.

    Under ASGI this address never reaches Django: `gifting.live.asgi` streams the events itself.
    """
    if not LiveStream.objects.filter(pk=stream_id).exists():
        raise Http404("No such stream.")
    return HttpResponse(status=204)


@require_GET
def poll(request: HttpRequest, stream_id: int) -> HttpResponse:
    """The stream's poll document (JSON, the same for every viewer) for pages without an event stream.

    Under WSGI only (under ASGI `gifting.live.asgi` answers from the hub): kept in the cache for
    POLL_CACHE_SECONDS and dropped whenever the stream publishes an event.
    """
    key = poll_cache_key(stream_id)
    document = cache.get(key)
    if document is None:
        document = replay.poll_document_json(stream_id)
        if document is None:
            raise Http404("No such stream.")
        cache.set(key, document, POLL_CACHE_SECONDS)
    response = HttpResponse(document, content_type="application/json")
    response["Cache-Control"] = "max-age=1"
    return response


@require_POST
@login_required
def send(request: AuthenticatedRequest, stream_id: int) -> HttpResponse:
    stream = _stream_or_404(stream_id)
    form = GiftSendForm(request.POST)
    if not form.is_valid():
        return _render_stream(request, stream, form=_retry_form(form), error=form.first_error(), status=400)
    data = form.cleaned_data
    gift = Gift.objects.filter(pk=data["gift"]).first()
    if (
        gift is not None
        and stream.is_live
        and not data["confirmed"]
        and services.gift_confirmation_needed(user=request.user, coins=gift.coin_cost * data["quantity"])
    ):
        return _render_confirmation(request, stream, gift, data)
    try:
        services.gift_send_rate_check(user=request.user)  # before, never inside, gift_send's transaction
        with metrics.gift_timer():
            event = services.gift_send(
                sender=request.user,
                stream_id=stream.pk,
                gift_id=data["gift"],
                quantity=data["quantity"],
                idempotency_key=data["idempotency_key"],
                anonymous=data["anonymous"],
                message=data["message"],
            )
    except services.GiftError as error:
        return _render_gift_error(request, stream, form, error)
    shown = event.gift_display or GiftDisplay.of(event.gift)  # a replayed gift: read it
    messages.success(
        request,
        _("You sent %(quantity)s × %(gift)s to %(name)s.")  # noqa: RUF001 (a real multiplication sign)
        % {"quantity": event.quantity, "gift": shown.name, "name": _creator_name(stream)},
    )
    return redirect("gifting:stream", stream_id=stream.pk)


# --- The live room's JSON endpoints (static/js/room.js): a tap sends a gift, chat, moderation ---------------


def _json_error(code: str, message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"ok": False, "error": code, "message": message, **extra}, status=status)


def _json_login_required(request: HttpRequest) -> JsonResponse | None:
    if request.user.is_authenticated:
        return None
    return _json_error("login_required", _("Log in first."), 401, login_url=reverse("account_login"))


def _number(value: int) -> str:
    return formats.number_format(value, force_grouping=True)


@require_POST
def gift_tap(request: HttpRequest, stream_id: int) -> HttpResponse:
    """Send a gift from the live room without leaving it; answers JSON, never a redirect.

    The page sends its own idempotency key per tap (a retry of the same tap reuses it, so it charges once).
    A gift over the viewer's confirmation threshold answers 428 until it is sent again with `confirmed`.
    """
    refused = _json_login_required(request)
    if refused is not None:
        return refused
    user = cast(AuthenticatedRequest, request).user
    form = GiftSendForm(request.POST)
    if not form.is_valid():
        return _json_error("invalid_request", form.first_error(), 400)
    data = form.cleaned_data
    now = time.time()
    try:
        services.gift_send_rate_check(user=user, now=now)  # before, never inside, gift_send's transaction
        event = services.gift_send(
            sender=user,
            stream_id=stream_id,
            gift_id=data["gift"],
            quantity=data["quantity"],
            idempotency_key=data["idempotency_key"],
            anonymous=data["anonymous"],
            message=data["message"],
            confirmed=data["confirmed"],
        )
    except services.GiftNeedsConfirmation as needed:
        services.gift_send_rate_return(user=user, now=now)  # asking is not a send
        return _confirmation_json(request, needed)
    except services.GiftError as error:
        return _gift_error_json(request, stream_id, error)
    gift = event.gift_display or GiftDisplay.of(event.gift)  # a replayed gift: read it
    return JsonResponse(
        {
            "ok": True,
            "message": _("You sent %(quantity)s × %(gift)s.")  # noqa: RUF001
            % {"quantity": event.quantity, "gift": gift_name_local(gift.name)},
            "gift": gift_payload(
                event_id=event.pk,
                stream_id=event.stream_id,
                gift_id=event.gift_id,
                gift_name=gift.name,
                artwork=gift.artwork,
                tier=gift.tier,
                quantity=event.quantity,
                coins=event.coins,
                sender_name="" if event.is_anonymous else user.display_name,
                anonymous=event.is_anonymous,
                created_at=event.created_at,
                message=event.message,
            ),
            "balance": _balance_json(request, coins=event.sender_coins_after),
        }
    )


def _balance_json(request: HttpRequest, *, coins: int | None = None) -> dict:
    """The viewer's coins with their money value; `coins` when the caller knows them (the gift's own posting)."""
    user = cast(AuthenticatedRequest, request).user
    if coins is None:
        coins = user_balance(user, Asset.COIN)
    amount = request_valuation(request).coin_amount(coins, display_currency(user))
    return {"coins": coins, "html": coins_amount(amount, empty=_("0 coins"))}


def _confirmation_json(request: HttpRequest, needed: services.GiftNeedsConfirmation) -> JsonResponse:
    value = request_valuation(request).coins(needed.coins, display_currency(request.user))
    money = f" ({money_text(value)})" if value is not None else ""
    return _json_error(
        "confirmation_required",
        _("Send %(quantity)s × %(gift)s for %(coins)s coins%(money)s?")  # noqa: RUF001
        % {
            "quantity": needed.quantity,
            "gift": gift_name_local(needed.gift_name),
            "coins": _number(needed.coins),
            "money": money,
        },
        428,
        coins=needed.coins,
    )


def _gift_error_json(request: HttpRequest, stream_id: int, error: services.GiftError) -> JsonResponse:
    status = GIFT_ERROR_STATUS.get(type(error), 400)
    if isinstance(error, services.NotEnoughCoins):
        return _json_error(
            error.code,
            _("This gift costs %(cost)s coins and you have %(balance)s: you need %(shortfall)s more.")
            % {"cost": _number(error.cost), "balance": _number(error.balance), "shortfall": _number(error.shortfall)},
            status,
            shortfall=error.shortfall,
            recharge_url=f"{reverse('wallet:recharge')}?{urlencode({'coins': error.shortfall})}",
            recharge_text=_("Buy %(coins)s coins") % {"coins": _number(error.shortfall)},
        )
    response = _json_error(getattr(error, "code", "gift_error"), str(error), status)
    if isinstance(error, services.GiftRateLimited):
        response["Retry-After"] = str(error.retry_after)
    return response


@require_POST
def chat_send(request: HttpRequest, stream_id: int) -> HttpResponse:
    """Post a chat message to the stream (form field `text`); answers the message as JSON (201)."""
    refused = _json_login_required(request)
    if refused is not None:
        return refused
    try:
        message = chat.chat_post(
            author=cast(AuthenticatedRequest, request).user, stream_id=stream_id, text=request.POST.get("text", "")
        )
    except chat.ChatError as error:
        return _chat_error_json(error)
    return JsonResponse(
        {"ok": True, "message": {"id": message.pk, "text": message.text, "created_at": message.created_at.isoformat()}},
        status=201,
    )


def _chat_error_json(error: chat.ChatError) -> JsonResponse:
    response = _json_error(error.code, str(error), error.status)
    if isinstance(error, chat.ChatRateLimited):
        response["Retry-After"] = str(error.retry_after)
    return response


MODERATION_ACTIONS = {"delete", "mute", "ban"}


@require_POST
def chat_moderate(request: HttpRequest, message_id: int) -> HttpResponse:
    """The stream's creator (or staff) deletes a message, or mutes or bans its author (form field `action`;
    `minutes` for a timed mute)."""
    refused = _json_login_required(request)
    if refused is not None:
        return refused
    moderator = cast(AuthenticatedRequest, request).user
    action = request.POST.get("action", "")
    if action not in MODERATION_ACTIONS:
        return _json_error("invalid", _("Choose to delete, mute or ban."), 400)
    minutes_text = request.POST.get("minutes", "")
    if minutes_text and not (minutes_text.isascii() and minutes_text.isdigit() and len(minutes_text) <= 5):
        return _json_error("invalid", _("Mute for a whole number of minutes."), 400)
    # The studio's plain forms (no script) come back to the studio with the outcome as a message.
    from_studio = request.POST.get("from") == "studio"
    try:
        if action == "delete":
            chat.chat_delete(moderator=moderator, message_id=message_id)
            if from_studio:
                messages.success(request, _("Message deleted."))
                return redirect(f"{reverse('gifting:studio')}#chat-moderation")
            return JsonResponse({"ok": True, "message": _("Message deleted.")})
        restriction = chat.chat_restrict(
            moderator=moderator, message_id=message_id, kind=action, minutes=int(minutes_text) if minutes_text else None
        )
    except chat.ChatError as error:
        if from_studio and error.status != 404:
            messages.error(request, str(error))
            return redirect(f"{reverse('gifting:studio')}#chat-moderation")
        return _chat_error_json(error)
    text = _("Muted in this stream's chat.") if action == "mute" else _("Banned from the chat of all your streams.")
    if from_studio:
        messages.success(request, text)
        return redirect(f"{reverse('gifting:studio')}#chat-moderation")
    return JsonResponse({"ok": True, "message": text, "until": restriction.until and restriction.until.isoformat()})


def _retry_form(form: GiftSendForm) -> GiftSendForm:
    """The viewer's choices again, under a fresh request id (the failed one charged nothing)."""
    initial = {name: form.data.get(name) for name in ("gift", "quantity")}
    return GiftSendForm(
        initial={**initial, "anonymous": bool(form.data.get("anonymous")), "idempotency_key": new_idempotency_key()}
    )


def _render_gift_error(
    request: HttpRequest, stream: LiveStream, form: GiftSendForm, error: services.GiftError
) -> HttpResponse:
    status = GIFT_ERROR_STATUS.get(type(error), 400)
    extra = {}
    if isinstance(error, services.NotEnoughCoins):
        extra = {"shortfall": error.shortfall, "recharge_url": f"{reverse('wallet:recharge')}?coins={error.shortfall}"}
    response = _render_stream(request, stream, form=_retry_form(form), error=str(error), extra=extra, status=status)
    if isinstance(error, services.GiftRateLimited):
        response["Retry-After"] = str(error.retry_after)
    return response


def _render_confirmation(request: AuthenticatedRequest, stream: LiveStream, gift: Gift, data: dict) -> HttpResponse:
    coins = gift.coin_cost * data["quantity"]
    return render(
        request,
        "gifting/confirm.html",
        {
            "stream": stream,
            "gift": gift,
            "data": data,
            "cost": request_valuation(request).coin_amount(coins, display_currency(request.user)),
        },
    )


def _creator_name(stream: LiveStream) -> str:
    return stream.creator.display_name or _("the creator")


@require_http_methods(["GET", "POST"])
@login_required
def preferences(request: AuthenticatedRequest) -> HttpResponse:
    """The viewer's gifting preferences (also a form on each stream page, which posts here and returns)."""
    if request.method == "GET":
        return render(
            request,
            "gifting/preferences.html",
            _preferences_context(request, next_url=_safe_next(request, request.GET.get("next", ""))),
        )
    form = GiftingPreferencesForm(request.POST, staff_threshold=GiftingSettings.load().gift_confirm_above_coins)
    if not form.is_valid():
        return _render_preferences_error(request, form)
    data = form.cleaned_data
    try:
        services.gifting_preferences_set(
            user=request.user,
            hide_from_leaderboards=data["hide_from_leaderboards"],
            confirm_above_coins=data["confirm_above_coins"],
        )
    except services.PreferencesError as error:
        form.add_error("confirm_above_coins", str(error))
        return _render_preferences_error(request, form)
    messages.success(
        request,
        _("Gifting preferences saved: you are now hidden from stream leaderboards.")
        if data["hide_from_leaderboards"]
        else _("Gifting preferences saved: you are now shown on stream leaderboards."),
    )
    return redirect(_safe_next(request, data.get("next") or ""))


def _render_preferences_error(request: AuthenticatedRequest, form: GiftingPreferencesForm) -> HttpResponse:
    next_url = _safe_next(request, form.data.get("next", ""))
    return render(
        request,
        "gifting/preferences.html",
        {**_preferences_context(request, form=form), "next_url": next_url},
        status=400,
    )


def _safe_next(request: HttpRequest, target: object) -> str:
    return safe_next(request, target, reverse("gifting:index"))


# --- Creator profiles ---------------------------------------------------------------------------


@replica_reads
def creator(request: HttpRequest, creator_id: int) -> HttpResponse:
    page = selectors.creator_page(creator_id)
    if page is None:
        raise Http404("No such creator.")
    return render(request, "gifting/creator.html", {"page": page})


# --- Creator studio -----------------------------------------------------------------------------


STUDIO_CHAT_LIMIT = 30


def _own_stream(request: AuthenticatedRequest, stream_id: int) -> LiveStream:
    """The creator's own stream; another creator's stream id is simply not found (object-level access)."""
    return get_object_or_404(LiveStream, pk=stream_id, creator=request.user)


@creator_required
def studio(request: AuthenticatedRequest) -> HttpResponse:
    return _render_studio(request)


def _render_studio(
    request: AuthenticatedRequest,
    *,
    go_live_form: GoLiveForm | None = None,
    goal_form: GoalForm | None = None,
    profile_form: CreatorProfileForm | None = None,
    chat_settings_form: ChatSettingsForm | None = None,
    status: int = 200,
) -> HttpResponse:
    live = LiveStream.objects.filter(creator=request.user, ended_at__isnull=True).first()
    profile = CreatorProfile.objects.filter(user=request.user).first()
    video = _video_addresses(request.user)
    context: dict[str, Any] = {
        "live": live,
        "video": video,
        "go_live_form": go_live_form
        or GoLiveForm(initial={"stream_url": video["playback"] if stream_link_origin(video["playback"]) else ""}),
        "per_coin": request_valuation(request).per_coin(display_currency(request.user)),
        "profile_form": profile_form
        or CreatorProfileForm(
            initial={"bio": profile.bio if profile else "", "avatar": profile.avatar if profile else ""}
        ),
        "chat_settings_form": chat_settings_form
        or ChatSettingsForm(
            initial={
                "slow_mode_seconds": profile.chat_slow_mode_seconds if profile else 0,
                "blocked_words": profile.chat_blocked_words if profile else "",
            }
        ),
        "chat_restrictions": chat.chat_restrictions_active(creator_id=request.user.pk),
    }
    if live is not None:
        diamonds = selectors.stream_diamonds(live)
        valuation = request_valuation(request)
        context.update(
            {
                "incoming": [
                    IncomingGift(
                        item=item,
                        diamonds=item.coins * services.DIAMONDS_PER_COIN,
                        value=valuation.diamonds(item.coins * services.DIAMONDS_PER_COIN),
                    )
                    for item in selectors.recent_gifts(live, limit=50)
                ],
                "diamonds": diamonds,
                "diamonds_value": valuation.diamonds(diamonds),
                "goal": selectors.stream_goal_progress(live),
                "goal_form": goal_form
                or GoalForm(initial={"goal_coins": live.goal_coins, "goal_label": live.goal_label}),
                "studio_chat": replay.recent_chat(live.pk, STUDIO_CHAT_LIMIT),
                "moderation_actions": [("delete", _("Delete")), ("mute", _("Mute")), ("ban", _("Ban"))],
            }
        )
    return render(request, "gifting/studio.html", context, status=status)


def _video_addresses(creator: Any) -> dict[str, str]:
    """Where the creator streams to from OBS (server and stream key) and where viewers play it (HLS playlist), on
    the ingest server the site names (settings LIVE_INGEST_URL, LIVE_PLAYBACK_URL; docs/live-video.md)."""
    path = f"creator-{creator.pk}"
    return {
        "server": settings.LIVE_INGEST_URL,
        "key": path,
        "playback": f"{settings.LIVE_PLAYBACK_URL}/{path}/index.m3u8",
    }


@require_POST
@creator_required
def studio_start(request: AuthenticatedRequest) -> HttpResponse:
    form = GoLiveForm(request.POST)
    if not form.is_valid():
        return _render_studio(request, go_live_form=form, status=400)
    try:
        stream = services.stream_start(creator=request.user, **form.cleaned_data)
    except services.StreamError as error:
        form.add_error(None, str(error))
        return _render_studio(request, go_live_form=form, status=400)
    messages.success(request, _("You are live: “%(title)s”.") % {"title": stream.title})
    return redirect("gifting:studio")


@require_POST
@creator_required
def studio_end(request: AuthenticatedRequest, stream_id: int) -> HttpResponse:
    stream = _own_stream(request, stream_id)
    services.stream_end(stream=stream, creator=request.user)
    messages.success(request, _("Your stream has ended. Gifts are closed."))
    return redirect("gifting:studio")


@require_POST
@creator_required
def studio_goal(request: AuthenticatedRequest, stream_id: int) -> HttpResponse:
    stream = _own_stream(request, stream_id)
    form = GoalForm(request.POST)
    if not form.is_valid():
        return _render_studio(request, goal_form=form, status=400)
    try:
        services.stream_goal_set(stream=stream, creator=request.user, **form.cleaned_data)
    except services.StreamError as error:
        messages.error(request, str(error))
        return redirect("gifting:studio")
    messages.success(request, _("Goal updated.") if form.cleaned_data["goal_coins"] else _("Goal cleared."))
    return redirect("gifting:studio")


@require_POST
@creator_required
def studio_profile(request: AuthenticatedRequest) -> HttpResponse:
    form = CreatorProfileForm(request.POST)
    if not form.is_valid():
        return _render_studio(request, profile_form=form, status=400)
    try:
        services.creator_profile_update(creator=request.user, **form.cleaned_data)
    except services.ProfileError as error:
        form.add_error(None, str(error))
        return _render_studio(request, profile_form=form, status=400)
    messages.success(request, _("Your profile is updated."))
    return redirect("gifting:studio")


@require_POST
@creator_required
def studio_chat_settings(request: AuthenticatedRequest) -> HttpResponse:
    """Save the creator's slow mode and blocked words."""
    form = ChatSettingsForm(request.POST)
    if not form.is_valid():
        return _render_studio(request, chat_settings_form=form, status=400)
    try:
        chat.chat_settings_update(creator=request.user, **form.cleaned_data)
    except chat.ChatError as error:
        form.add_error(None, str(error))
        return _render_studio(request, chat_settings_form=form, status=400)
    messages.success(request, _("Your chat settings are saved."))
    return redirect(f"{reverse('gifting:studio')}#chat-settings")


@require_POST
@creator_required
def studio_chat_lift(request: AuthenticatedRequest, restriction_id: int) -> HttpResponse:
    """Lift one of the creator's mutes or bans (another creator's is simply not found)."""
    try:
        restriction = chat.chat_lift(moderator=request.user, restriction_id=restriction_id)
    except chat.ChatNotFound as error:
        raise Http404(str(error)) from None
    messages.success(
        request,
        _("%(name)s may chat again.") % {"name": restriction.viewer.display_name or _("The viewer")},
    )
    return redirect(f"{reverse('gifting:studio')}#chat-restrictions")


@require_POST
@creator_required
def studio_overlay_regenerate(request: AuthenticatedRequest) -> HttpResponse:
    services.overlay_token_regenerate(creator=request.user)
    messages.success(request, _("Your overlay has a new address. Update it in your streaming software."))
    return redirect("gifting:studio")


# --- Stream overlay (a browser source in OBS; the secret token in its URL is the only credential) ------


def _overlay_context(token: str, valuation: Valuation) -> dict:
    profile = get_object_or_404(CreatorProfile.objects.select_related("user"), overlay_token=token)
    live = LiveStream.objects.filter(creator_id=profile.user_id, ended_at__isnull=True).first()
    items = selectors.recent_gifts(live, limit=OVERLAY_LIMIT) if live else []
    big_ids = _big_event_ids(items)
    per_coin = valuation.per_coin(profile.user.preferred_currency)
    context = {"token": token, "live": live, "feed": items, "big_event_ids": big_ids, "per_coin": per_coin}
    if live is not None:  # the creator's own overlay: not counted as a viewer
        context |= _live_context(live, viewer_id=live.creator_id, feed=items, per_coin=per_coin)
    return context


@never_cache
@require_GET
def overlay(request: HttpRequest, token: str) -> HttpResponse:
    return render(request, "gifting/overlay.html", _overlay_context(token, request_valuation(request)))


@never_cache
@require_GET
def overlay_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The overlay's latest gift alerts as an HTML fragment (the overlay page itself renders live events)."""
    return render(request, "gifting/overlay.html#overlay", _overlay_context(token, request_valuation(request)))
