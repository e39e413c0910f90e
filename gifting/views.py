"""The live pages: who is live, a stream with its gift bar and live feed, sending gifts, creators, the studio."""

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.csp import CSP
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from djmoney.money import Money

from gifting import presence, selectors, services
from gifting.forms import (
    CreatorProfileForm,
    GiftingPreferencesForm,
    GiftSendForm,
    GoalForm,
    GoLiveForm,
    new_idempotency_key,
)
from gifting.live import replay
from gifting.live.publish import poll_cache_key
from gifting.models import CreatorProfile, Gift, GiftEvent, GiftingPreferences, GiftTier, LiveStream
from wallet.ledger import user_balance
from wallet.models import Asset
from wallet.selectors import coin_rate, coin_value, economy

ANONYMOUS_VISITOR_CURRENCY = "USD"
BIG_TIERS = (GiftTier.LARGE, GiftTier.EPIC)
FEED_LIMIT = 20
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
class CoinAmount:
    """Coins with their money value, as `templates/wallet/_coins.html` shows them."""

    coins: int
    value: Money | None


@dataclass(frozen=True)
class LiveCard:
    stream: LiveStream
    goal: selectors.GoalProgress | None
    viewers: int


@dataclass(frozen=True)
class IncomingGift:
    item: selectors.FeedItem
    diamonds: int
    value: Money


@dataclass(frozen=True)
class GiftOption:
    gift: Gift
    value: Money | None


def viewer_currency(user) -> str:
    return user.preferred_currency if user.is_authenticated else ANONYMOUS_VISITOR_CURRENCY


def live_cards() -> list[LiveCard]:
    """The streams live now with their goal progress and viewers present, for the live list (also on the home page)."""
    streams = list(selectors.live_streams())
    viewers = presence.viewer_counts([stream.pk for stream in streams])
    services.stream_viewer_counts_save(streams=streams, counts=viewers)
    return [
        LiveCard(stream=stream, goal=selectors.stream_goal_progress(stream), viewers=viewers[stream.pk])
        for stream in streams
    ]


def live_list_context(request) -> dict:
    """The live list (on /live/ and the home page), with the coin price for the goals' money values."""
    return {"cards": live_cards(), "per_coin": _per_coin(viewer_currency(request.user))}


def index(request):
    return render(request, "gifting/index.html", live_list_context(request))


def _stream_or_404(stream_id: int) -> LiveStream:
    return get_object_or_404(LiveStream.objects.select_related("creator", "creator__creator_profile"), pk=stream_id)


def _viewers(stream: LiveStream) -> int:
    """Viewers with the stream open now (gifting.presence); loading a page or polling counts nobody."""
    return presence.viewer_count(stream.pk) if stream.is_live else 0


def _live_context(stream: LiveStream, *, viewer_id: int | None, feed: list, currency: str) -> dict:
    """What static/js/live.js needs: where the stream's events and poll document are, and how to value coins.

    The events address carries the viewer's signed token (who is counted as watching) and the newest
    gift rendered (so the stream starts right after it).
    """
    token = presence.viewer_token(stream_id=stream.pk, user_id=viewer_id, creator_id=stream.creator_id)
    query = urlencode({"v": token, "after": replay.page_cursor(item.event_id for item in feed)})
    rate = coin_rate(currency)
    return {
        "live_events_url": f"{reverse('gifting:events', args=[stream.pk])}?{query}",
        "live_poll_url": reverse("gifting:poll", args=[stream.pk]),
        "live_per_coin": str(rate.per_coin.amount) if rate else "",
        "live_currency": rate.per_coin.currency.code if rate else "",
        "live_locale": get_language() or settings.LANGUAGE_CODE,
    }


def _feed_context(stream: LiveStream, *, viewers: int, currency: str) -> dict:
    items = selectors.recent_gifts(stream, limit=FEED_LIMIT)
    big_ids = set(
        GiftEvent.objects.filter(pk__in=[item.event_id for item in items], gift__tier__in=BIG_TIERS).values_list(
            "pk", flat=True
        )
    )
    return {
        "stream": stream,
        "feed": items,
        "big_event_ids": big_ids,
        "leaders": selectors.leaderboard(stream),
        "goal": selectors.stream_goal_progress(stream),
        "viewers": viewers,
        "per_coin": _per_coin(currency),
    }


def _per_coin(currency: str):
    """The base price of one coin in `currency`, for the money value beside every coin amount."""
    rate = coin_rate(currency)
    return rate.per_coin if rate else None


def _gift_bar_context(request, stream: LiveStream, form: GiftSendForm | None = None) -> dict:
    user = request.user
    if not user.is_authenticated or not stream.is_live:
        return {}
    currency = viewer_currency(user)
    balance = user_balance(user, Asset.COIN)
    return {
        "gift_options": [
            GiftOption(gift=gift, value=coin_value(gift.coin_cost, currency)) for gift in selectors.gift_catalogue(user)
        ],
        "gift_form": form or GiftSendForm(initial={"quantity": 1, "idempotency_key": new_idempotency_key()}),
        "balance": CoinAmount(coins=balance, value=coin_value(balance, currency)),
        **_preferences_context(request, next_url=request.get_full_path()),
        "is_own_stream": stream.creator_id == user.pk,
    }


def _preferences_context(request, *, next_url: str = "", form: GiftingPreferencesForm | None = None) -> dict:
    """The viewer's gifting preferences form, and the confirmation thresholds (site's and theirs) with money values."""
    user = request.user
    preferences = GiftingPreferences.objects.filter(user=user).first()
    staff_threshold = economy().gift_confirm_above_coins
    personal = preferences.confirm_above_coins if preferences else None
    threshold = min(staff_threshold, personal) if personal else staff_threshold
    currency = viewer_currency(user)
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
        "site_threshold": CoinAmount(coins=staff_threshold, value=coin_value(staff_threshold, currency)),
        "confirm_threshold": CoinAmount(coins=threshold, value=coin_value(threshold, currency)),
        "has_personal_threshold": bool(personal) and personal < staff_threshold,
    }


def _render_stream(
    request,
    stream: LiveStream,
    *,
    form: GiftSendForm | None = None,
    error: str = "",
    extra: dict | None = None,
    status: int = 200,
):
    currency = viewer_currency(request.user)
    feed_context = _feed_context(stream, viewers=_viewers(stream), currency=currency)
    context = {
        **feed_context,
        **_live_context(
            stream,
            viewer_id=request.user.pk if request.user.is_authenticated else None,
            feed=feed_context["feed"],
            currency=currency,
        ),
        **_gift_bar_context(request, stream, form),
        "gift_error": error,
        **(extra or {}),
    }
    response = render(request, "gifting/stream.html", context, status=status)
    if stream.is_live and stream.stream_url:
        _allow_media_from(response, stream.stream_url)
    return response


def _allow_media_from(response, url: str) -> None:
    """Let this page's <video> load the creator's stream (media-src otherwise falls back to 'self')."""
    parts = urlsplit(url)
    response._csp_config = {**settings.SECURE_CSP, "media-src": [CSP.SELF, f"{parts.scheme}://{parts.netloc}"]}


def stream(request, stream_id: int):
    return _render_stream(request, _stream_or_404(stream_id))


@never_cache
@require_GET
def feed(request, stream_id: int):
    """The feed, leaderboard, goal and viewer count as the page's HTML fragment, in the viewer's currency."""
    stream = _stream_or_404(stream_id)
    return render(
        request,
        "gifting/stream.html#feed",
        _feed_context(stream, viewers=_viewers(stream), currency=viewer_currency(request.user)),
    )


@never_cache
@require_GET
def events(request, stream_id: int):
    """Under WSGI only: 204 tells the browser's EventSource to stop, and `static/js/live.js` polls instead.

    Under ASGI this address never reaches Django: `gifting.live.asgi` streams the events itself.
    """
    if not LiveStream.objects.filter(pk=stream_id).exists():
        raise Http404("No such stream.")
    return HttpResponse(status=204)


@require_GET
def poll(request, stream_id: int):
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
def send(request, stream_id: int):
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
        event = services.gift_send(
            sender=request.user,
            stream_id=stream.pk,
            gift_id=data["gift"],
            quantity=data["quantity"],
            idempotency_key=data["idempotency_key"],
            anonymous=data["anonymous"],
        )
    except services.GiftError as error:
        return _render_gift_error(request, stream, form, error)
    sent = f"{event.quantity} × {gift.name}"  # noqa: RUF001 (a real multiplication sign)
    messages.success(request, f"You sent {sent} to {_creator_name(stream)}.")
    return redirect("gifting:stream", stream_id=stream.pk)


def _retry_form(form: GiftSendForm) -> GiftSendForm:
    """The viewer's choices again, under a fresh request id (the failed one charged nothing)."""
    initial = {name: form.data.get(name) for name in ("gift", "quantity")}
    return GiftSendForm(
        initial={**initial, "anonymous": bool(form.data.get("anonymous")), "idempotency_key": new_idempotency_key()}
    )


def _render_gift_error(request, stream: LiveStream, form: GiftSendForm, error: services.GiftError):
    status = GIFT_ERROR_STATUS.get(type(error), 400)
    extra = {}
    if isinstance(error, services.NotEnoughCoins):
        extra = {"shortfall": error.shortfall, "recharge_url": f"{reverse('wallet:recharge')}?coins={error.shortfall}"}
    response = _render_stream(request, stream, form=_retry_form(form), error=str(error), extra=extra, status=status)
    if isinstance(error, services.GiftRateLimited):
        response["Retry-After"] = str(error.retry_after)
    return response


def _render_confirmation(request, stream: LiveStream, gift: Gift, data: dict):
    coins = gift.coin_cost * data["quantity"]
    return render(
        request,
        "gifting/confirm.html",
        {
            "stream": stream,
            "gift": gift,
            "data": data,
            "cost": CoinAmount(coins=coins, value=coin_value(coins, viewer_currency(request.user))),
        },
    )


def _creator_name(stream: LiveStream) -> str:
    return stream.creator.display_name or "the creator"


@require_http_methods(["GET", "POST"])
@login_required
def preferences(request):
    """The viewer's gifting preferences (also a form on each stream page, which posts here and returns)."""
    if request.method == "GET":
        return render(
            request,
            "gifting/preferences.html",
            _preferences_context(request, next_url=_safe_next(request, request.GET.get("next", ""))),
        )
    form = GiftingPreferencesForm(request.POST, staff_threshold=economy().gift_confirm_above_coins)
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
        "Gifting preferences saved: you are now "
        + ("hidden from" if data["hide_from_leaderboards"] else "shown on")
        + " stream leaderboards.",
    )
    return redirect(_safe_next(request, data.get("next") or ""))


def _render_preferences_error(request, form: GiftingPreferencesForm):
    next_url = _safe_next(request, form.data.get("next", ""))
    return render(
        request,
        "gifting/preferences.html",
        {**_preferences_context(request, form=form), "next_url": next_url},
        status=400,
    )


def _safe_next(request, target: str) -> str:
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return reverse("gifting:index")
    return target


# --- Creator profiles ---------------------------------------------------------------------------


def creator(request, creator_id: int):
    page = selectors.creator_page(creator_id)
    if page is None:
        raise Http404("No such creator.")
    return render(request, "gifting/creator.html", {"page": page})


# --- Creator studio -----------------------------------------------------------------------------


def _creator_only(request) -> None:
    if not request.user.is_creator:
        raise PermissionDenied("Only creators can use the studio.")


def _own_stream(request, stream_id: int) -> LiveStream:
    """The creator's own stream; another creator's stream id is simply not found (object-level access)."""
    _creator_only(request)
    return get_object_or_404(LiveStream, pk=stream_id, creator=request.user)


@login_required
def studio(request):
    _creator_only(request)
    return _render_studio(request)


def _render_studio(
    request,
    *,
    go_live_form: GoLiveForm | None = None,
    goal_form: GoalForm | None = None,
    profile_form: CreatorProfileForm | None = None,
    status: int = 200,
):
    live = LiveStream.objects.filter(creator=request.user, ended_at__isnull=True).first()
    profile = CreatorProfile.objects.filter(user=request.user).first()
    context = {
        "live": live,
        "go_live_form": go_live_form or GoLiveForm(),
        "per_coin": _per_coin(viewer_currency(request.user)),
        "profile_form": profile_form
        or CreatorProfileForm(
            initial={"bio": profile.bio if profile else "", "avatar": profile.avatar if profile else ""}
        ),
    }
    if live is not None:
        diamonds = selectors.stream_diamonds(live)
        per_diamond = economy().diamond_value
        context.update(
            {
                "incoming": [
                    IncomingGift(
                        item=item,
                        diamonds=item.coins * services.DIAMONDS_PER_COIN,
                        value=selectors.diamond_value(item.coins * services.DIAMONDS_PER_COIN, per_diamond=per_diamond),
                    )
                    for item in selectors.recent_gifts(live, limit=50)
                ],
                "diamonds": diamonds,
                "diamonds_value": selectors.diamond_value(diamonds, per_diamond=per_diamond),
                "goal": selectors.stream_goal_progress(live),
                "goal_form": goal_form
                or GoalForm(initial={"goal_coins": live.goal_coins, "goal_label": live.goal_label}),
            }
        )
    return render(request, "gifting/studio.html", context, status=status)


@require_POST
@login_required
def studio_start(request):
    _creator_only(request)
    form = GoLiveForm(request.POST)
    if not form.is_valid():
        return _render_studio(request, go_live_form=form, status=400)
    try:
        stream = services.stream_start(creator=request.user, **form.cleaned_data)
    except services.StreamError as error:
        form.add_error(None, str(error))
        return _render_studio(request, go_live_form=form, status=400)
    messages.success(request, f"You are live: “{stream.title}”.")
    return redirect("gifting:studio")


@require_POST
@login_required
def studio_end(request, stream_id: int):
    stream = _own_stream(request, stream_id)
    services.stream_end(stream=stream, creator=request.user)
    messages.success(request, "Your stream has ended. Gifts are closed.")
    return redirect("gifting:studio")


@require_POST
@login_required
def studio_goal(request, stream_id: int):
    stream = _own_stream(request, stream_id)
    form = GoalForm(request.POST)
    if not form.is_valid():
        return _render_studio(request, goal_form=form, status=400)
    try:
        services.stream_goal_set(stream=stream, creator=request.user, **form.cleaned_data)
    except services.StreamError as error:
        messages.error(request, str(error))
        return redirect("gifting:studio")
    messages.success(request, "Goal updated." if form.cleaned_data["goal_coins"] else "Goal cleared.")
    return redirect("gifting:studio")


@require_POST
@login_required
def studio_profile(request):
    _creator_only(request)
    form = CreatorProfileForm(request.POST)
    if not form.is_valid():
        return _render_studio(request, profile_form=form, status=400)
    try:
        services.creator_profile_update(creator=request.user, **form.cleaned_data)
    except services.ProfileError as error:
        form.add_error(None, str(error))
        return _render_studio(request, profile_form=form, status=400)
    messages.success(request, "Your profile is updated.")
    return redirect("gifting:studio")


@require_POST
@login_required
def studio_overlay_regenerate(request):
    _creator_only(request)
    services.overlay_token_regenerate(creator=request.user)
    messages.success(request, "Your overlay has a new address. Update it in your streaming software.")
    return redirect("gifting:studio")


# --- Stream overlay (a browser source in OBS; the secret token in its URL is the only credential) ------


def _overlay_context(token: str) -> dict:
    profile = get_object_or_404(CreatorProfile.objects.select_related("user"), overlay_token=token)
    live = LiveStream.objects.filter(creator_id=profile.user_id, ended_at__isnull=True).first()
    items = selectors.recent_gifts(live, limit=OVERLAY_LIMIT) if live else []
    big_ids = set(
        GiftEvent.objects.filter(pk__in=[item.event_id for item in items], gift__tier__in=BIG_TIERS).values_list(
            "pk", flat=True
        )
    )
    context = {
        "token": token,
        "live": live,
        "feed": items,
        "big_event_ids": big_ids,
        "per_coin": _per_coin(profile.user.preferred_currency),
    }
    if live is not None:  # the creator's own overlay: not counted as a viewer
        context |= _live_context(live, viewer_id=live.creator_id, feed=items, currency=profile.user.preferred_currency)
    return context


@never_cache
@require_GET
def overlay(request, token: str):
    return render(request, "gifting/overlay.html", _overlay_context(token))


@never_cache
@require_GET
def overlay_feed(request, token: str):
    """The overlay's latest gift alerts as an HTML fragment (the overlay page itself renders live events)."""
    return render(request, "gifting/overlay.html#overlay", _overlay_context(token))
