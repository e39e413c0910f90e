"""Gifting: the gift catalogue, creators' live streams, and the append-only record of gifts sent.

Coins and diamonds themselves live in the wallet ledger; a `GiftEvent` only records what was
sent, pointing at the ledger transaction that moved the value (docs/design.md §2, §3).
"""

import functools
import re
import secrets
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, override, pgettext_lazy

from coinsite.lib.l10n import format_count, gift_name_local
from coinsite.lib.singletons import SingletonModel
from coinsite.lib.static_urls import static_url
from wallet.models import AppendOnlyModel, LedgerTransaction

COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
CHAT_MAX_LENGTH = 200
GIFT_MESSAGE_MAX_LENGTH = 100


class GiftTier(models.TextChoices):
    SMALL = "small", pgettext_lazy("gift tier", "Small")
    MEDIUM = "medium", pgettext_lazy("gift tier", "Medium")
    LARGE = "large", pgettext_lazy("gift tier", "Large")
    EPIC = "epic", pgettext_lazy("gift tier", "Epic")


# The starting catalogue's gift names (migration 0003), translated where a page shows them (`gift_name_local`);
# a gift staff add or rename in admin shows its name as typed.
STARTING_GIFT_NAMES = [
    pgettext_lazy("gift name", "Rose"),
    pgettext_lazy("gift name", "Heart"),
    pgettext_lazy("gift name", "Ice Cream"),
    pgettext_lazy("gift name", "Coffee"),
    pgettext_lazy("gift name", "Doughnut"),
    pgettext_lazy("gift name", "Balloon"),
    pgettext_lazy("gift name", "Cherry Blossom"),
    pgettext_lazy("gift name", "Sunglasses"),
    pgettext_lazy("gift name", "Confetti"),
    pgettext_lazy("gift name", "Guitar"),
    pgettext_lazy("gift name", "Microphone"),
    pgettext_lazy("gift name", "Crown"),
    pgettext_lazy("gift name", "Trophy"),
    pgettext_lazy("gift name", "Disco Ball"),
    pgettext_lazy("gift name", "Fireworks"),
    pgettext_lazy("gift name", "Rocket"),
    pgettext_lazy("gift name", "Sports Car"),
    pgettext_lazy("gift name", "Yacht"),
    pgettext_lazy("gift name", "Castle"),
    pgettext_lazy("gift name", "Lion"),
    pgettext_lazy("gift name", "Universe"),
]


@functools.cache
def starting_gift_names() -> tuple[str, ...]:
    """The starting catalogue's names as stored ("Ice Cream"), whatever language is active."""
    with override("en"):
        return tuple(str(name) for name in STARTING_GIFT_NAMES)


class Gift(models.Model):
    """A virtual gift in the catalogue: what it costs in coins, its artwork, and where it is offered."""

    name = models.CharField(max_length=60, verbose_name=gettext_lazy("name"))
    slug = models.SlugField(max_length=60, unique=True, verbose_name=gettext_lazy("slug"))
    coin_cost = models.PositiveIntegerField(
        help_text=gettext_lazy("Price in coins; the creator earns as many diamonds."),
        verbose_name=gettext_lazy("coin cost"),
    )
    artwork = models.CharField(
        max_length=200,
        help_text=gettext_lazy("Static path of the artwork, e.g. gifts/rose.svg."),
        verbose_name=gettext_lazy("artwork"),
    )
    tier = models.CharField(
        max_length=8, choices=GiftTier.choices, default=GiftTier.SMALL, verbose_name=gettext_lazy("tier")
    )
    is_active = models.BooleanField(
        default=True,
        help_text=gettext_lazy("Inactive gifts are hidden and cannot be sent."),
        verbose_name=gettext_lazy("is active"),
    )
    countries = models.JSONField(
        default=list,
        blank=True,
        help_text=gettext_lazy('ISO country codes where the gift is offered, e.g. ["JP"]; empty means everywhere.'),
        verbose_name=gettext_lazy("countries"),
    )
    sort_order = models.PositiveSmallIntegerField(default=0, verbose_name=gettext_lazy("sort order"))

    class Meta:
        verbose_name = gettext_lazy("gift")
        verbose_name_plural = gettext_lazy("gifts")
        ordering = ["sort_order", "coin_cost", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(coin_cost__gt=0), name="gifting_gift_coin_cost_positive"),
            models.CheckConstraint(condition=Q(tier__in=GiftTier.values), name="gifting_gift_tier_valid"),
        ]

    def __str__(self) -> str:
        return ngettext("%(name)s (%(coins)s coin)", "%(name)s (%(coins)s coins)", self.coin_cost) % {
            "name": self.display_name,
            "coins": format_count(self.coin_cost),
        }

    def clean(self) -> None:
        countries = self.countries
        if not isinstance(countries, list) or not all(isinstance(c, str) and COUNTRY_CODE.match(c) for c in countries):
            raise ValidationError({"countries": _('Give a list of two-letter country codes, e.g. ["US", "GB"].')})

    @property
    def artwork_url(self) -> str:
        return static_url(self.artwork)

    @property
    def display_name(self) -> str:
        """The name in the active language (see `STARTING_GIFT_NAMES`)."""
        return gift_name_local(self.name)

    def is_offered_in(self, country: str) -> bool:
        return not self.countries or country in self.countries


# The avatars a creator may choose from (static files under static/avatars/); none shows their initials.
AVATAR_CHOICES = [
    ("avatars/fox.svg", pgettext_lazy("avatar", "Fox")),
    ("avatars/cat.svg", pgettext_lazy("avatar", "Cat")),
    ("avatars/owl.svg", pgettext_lazy("avatar", "Owl")),
    ("avatars/robot.svg", pgettext_lazy("avatar", "Robot")),
    ("avatars/planet.svg", pgettext_lazy("avatar", "Planet")),
    ("avatars/headphones.svg", pgettext_lazy("avatar", "Headphones")),
]


def new_overlay_token() -> str:
    return secrets.token_urlsafe(24)


class CreatorProfile(models.Model):
    """What viewers see about a creator, and the secret that will let a stream overlay read their gifts."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="creator_profile",
        verbose_name=gettext_lazy("user"),
    )
    bio = models.TextField(blank=True, default="", max_length=500, verbose_name=gettext_lazy("bio"))
    avatar = models.CharField(
        max_length=200,
        blank=True,
        default="",
        choices=AVATAR_CHOICES,
        help_text=gettext_lazy("One of the site's avatar images; initials are shown when empty."),
        verbose_name=gettext_lazy("avatar"),
    )
    overlay_token = models.CharField(
        max_length=64, unique=True, default=new_overlay_token, verbose_name=gettext_lazy("overlay token")
    )
    chat_slow_mode_seconds = models.PositiveSmallIntegerField(
        default=0,
        help_text=gettext_lazy("Seconds a viewer waits between two chat messages; 0 for no slow mode."),
        verbose_name=gettext_lazy("chat slow mode seconds"),
    )
    chat_blocked_words = models.TextField(
        blank=True,
        default="",
        help_text=gettext_lazy("Words or phrases refused in chat, one a line."),
        verbose_name=gettext_lazy("chat blocked words"),
    )

    class Meta:
        verbose_name = gettext_lazy("creator profile")
        verbose_name_plural = gettext_lazy("creator profiles")

    def __str__(self) -> str:
        return _("Creator profile of %(user)s") % {"user": self.user}

    @property
    def initials(self) -> str:
        words = (self.user.display_name or self.user.email).split()
        return "".join(word[0] for word in words[:2]).upper()

    @property
    def avatar_url(self) -> str:
        return static_url(self.avatar) if self.avatar else ""


class LiveStream(models.Model):
    """One broadcast by a creator; live while `ended_at` is empty, and a creator is live at most once."""

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="live_streams",
        verbose_name=gettext_lazy("creator"),
    )
    title = models.CharField(max_length=120, verbose_name=gettext_lazy("title"))
    stream_url = models.URLField(blank=True, default="", verbose_name=gettext_lazy("stream URL"))
    started_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("started at"))
    ended_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("ended at"))
    goal_coins = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=gettext_lazy("Coins the creator hopes to receive."),
        verbose_name=gettext_lazy("goal coins"),
    )
    goal_label = models.CharField(max_length=80, blank=True, default="", verbose_name=gettext_lazy("goal label"))
    viewer_count = models.PositiveIntegerField(
        default=0,
        help_text=gettext_lazy("Cached; refreshed by the live feed."),
        verbose_name=gettext_lazy("viewer count"),
    )

    class Meta:
        verbose_name = gettext_lazy("live stream")
        verbose_name_plural = gettext_lazy("live streams")
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["-started_at"], condition=Q(ended_at__isnull=True), name="gifting_stream_live"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["creator"], condition=Q(ended_at__isnull=True), name="gifting_livestream_one_live_per_creator"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="gifting_livestream_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(goal_coins__isnull=True) | Q(goal_coins__gt=0), name="gifting_livestream_goal_positive"
            ),
        ]

    def __str__(self) -> str:
        names = {"title": self.title, "creator": self.creator}
        return (
            _("%(title)s by %(creator)s (live)") % names
            if self.is_live
            else _("%(title)s by %(creator)s (ended)") % names
        )

    @property
    def is_live(self) -> bool:
        return self.ended_at is None


class GiftDisplay(NamedTuple):
    """What a viewer sees of a gift in the room: its name, artwork and tier."""

    name: str
    artwork: str
    tier: str

    @classmethod
    def of(cls, gift: Gift) -> "GiftDisplay":
        return cls(name=gift.name, artwork=gift.artwork, tier=gift.tier)


class GiftEvent(AppendOnlyModel):
    """One gift sent on a stream: `quantity` x gift for `coins` coins, earning the creator `diamonds`.

    Append-only, like the ledger it points at. `gifting.services.gift_send` is its only writer; the
    unique (sender, idempotency_key) makes a retried send return this row instead of charging again.
    """

    # The composite indexes below start with the stream and the sender, so plain FK indexes on them
    # would only be one more index write on every gift. The stream, creator, gift and ledger transaction
    # have no FK constraint in the database: thousands of gifts share one stream, creator and gift row,
    # and each FK check would take a KEY SHARE lock on them. `gift_send` read them in the same
    # transaction (and they are never deleted: PROTECT in Django, no delete in any service).
    stream = models.ForeignKey(
        LiveStream,
        on_delete=models.PROTECT,
        related_name="gift_events",
        db_index=False,
        db_constraint=False,
        verbose_name=gettext_lazy("stream"),
    )
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="gifts_sent",
        db_index=False,
        verbose_name=gettext_lazy("sender"),
    )
    # Indexed with the event id (below): the earnings roll-up's tail is "this creator's events after id N".
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="gifts_received",
        db_index=False,
        db_constraint=False,
        verbose_name=gettext_lazy("creator"),
    )
    gift = models.ForeignKey(
        Gift, on_delete=models.PROTECT, related_name="events", db_constraint=False, verbose_name=gettext_lazy("gift")
    )
    quantity = models.PositiveSmallIntegerField(verbose_name=gettext_lazy("quantity"))
    coins = models.BigIntegerField(verbose_name=gettext_lazy("coins"))
    diamonds = models.BigIntegerField(verbose_name=gettext_lazy("diamonds"))
    is_anonymous = models.BooleanField(default=False, verbose_name=gettext_lazy("is anonymous"))
    # A short message sent with the gift, highlighted in the room and the overlay (under the gift's name, so an
    # anonymous gift's message stays anonymous).
    message = models.CharField(
        max_length=100, blank=True, default="", db_default="", verbose_name=gettext_lazy("message")
    )
    idempotency_key = models.CharField(max_length=100, verbose_name=gettext_lazy("idempotency key"))
    ledger_transaction = models.OneToOneField(
        LedgerTransaction,
        on_delete=models.PROTECT,
        related_name="gift_event",
        db_constraint=False,
        verbose_name=gettext_lazy("ledger transaction"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))

    # Not columns: the sender's coins just after this gift, and the gift as shown (name, artwork, tier), when
    # `gift_send` sent it and knows them; its answer then needs no other read.
    sender_coins_after: int | None = None
    gift_display: "GiftDisplay | None" = None

    class Meta:
        verbose_name = gettext_lazy("gift event")
        verbose_name_plural = gettext_lazy("gift events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["stream", "-created_at"], name="gifting_event_stream_feed"),
            # Covering, so a stream's leaderboard and goal progress are index-only scans.
            models.Index(
                fields=["stream", "sender"], include=["coins", "is_anonymous"], name="gifting_event_stream_sender"
            ),
            models.Index(
                fields=["creator", "id"],
                include=["diamonds", "created_at", "stream"],
                name="gifting_event_creator_tail",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["sender", "idempotency_key"], name="gifting_giftevent_unique_request"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="gifting_giftevent_quantity_positive"),
            models.CheckConstraint(condition=Q(coins__gt=0), name="gifting_giftevent_coins_positive"),
            models.CheckConstraint(condition=Q(diamonds__gte=0), name="gifting_giftevent_diamonds_nonnegative"),
            models.CheckConstraint(condition=~Q(sender=F("creator")), name="gifting_giftevent_not_self"),
            models.CheckConstraint(condition=~Q(idempotency_key=""), name="gifting_giftevent_key_present"),
        ]

    def __str__(self) -> str:
        return _("%(quantity)s x %(gift)s from user %(sender)s on stream %(stream)s") % {
            "quantity": self.quantity,
            "gift": self.gift_id,
            "sender": self.sender_id,
            "stream": self.stream_id,
        }


class GiftingPreferences(models.Model):
    """A viewer's gifting settings; no row means the defaults (shown on leaderboards)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="gifting_preferences",
        verbose_name=gettext_lazy("user"),
    )
    hide_from_leaderboards = models.BooleanField(
        default=False,
        help_text=gettext_lazy("Leave the viewer out of every stream leaderboard (their gifts still count)."),
        verbose_name=gettext_lazy("hide from leaderboards"),
    )
    confirm_above_coins = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=gettext_lazy("The viewer's own, lower confirmation threshold; the staff-set one applies when empty."),
        verbose_name=gettext_lazy("confirm above coins"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        verbose_name = gettext_lazy("gifting preferences")
        verbose_name_plural = gettext_lazy("gifting preferences")
        constraints = [
            models.CheckConstraint(
                condition=Q(confirm_above_coins__isnull=True) | Q(confirm_above_coins__gte=1),
                name="gifting_preferences_confirm_positive",
            ),
        ]

    def __str__(self) -> str:
        return _("Gifting preferences of user %(id)s") % {"id": self.user_id}


class GiftingSettings(SingletonModel):
    """The one row of staff-set gifting rules, read through `gifting.selectors.gifting_settings()` (cached)."""

    gift_confirm_above_coins = models.PositiveIntegerField(
        default=5_000,
        help_text=gettext_lazy("Gifts costing more coins than this ask the viewer to confirm first."),
        verbose_name=gettext_lazy("gift confirm above coins"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

    class Meta:
        verbose_name = verbose_name_plural = gettext_lazy("gifting settings")
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="gifting_giftingsettings_singleton"),
            models.CheckConstraint(
                condition=Q(gift_confirm_above_coins__gte=1), name="gifting_giftingsettings_confirm_positive"
            ),
        ]

    def __str__(self) -> str:
        return _("Gifting settings")


class ChatMessage(models.Model):
    """One chat message on a stream, as its author wrote it (escaped wherever it is shown).

    `gifting.chat.chat_post` is its only writer. A moderator's delete hides it and keeps the row, with who
    deleted it and when: the record of the action.
    """

    # The (stream, id) and (stream, created_at) indexes below start with the stream.
    stream = models.ForeignKey(
        LiveStream,
        on_delete=models.PROTECT,
        related_name="chat_messages",
        db_index=False,
        verbose_name=gettext_lazy("stream"),
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="chat_messages",
        verbose_name=gettext_lazy("author"),
    )
    text = models.CharField(max_length=CHAT_MAX_LENGTH, verbose_name=gettext_lazy("text"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    deleted_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("deleted at"))
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("deleted by"),
    )

    class Meta:
        verbose_name = gettext_lazy("chat message")
        verbose_name_plural = gettext_lazy("chat messages")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["stream", "id"], name="gifting_chat_stream_id"),
            models.Index(fields=["stream", "-created_at"], name="gifting_chat_stream_recent"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="gifting_chatmessage_text_present"),
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True, deleted_by__isnull=True)
                | Q(deleted_at__isnull=False, deleted_by__isnull=False),
                name="gifting_chatmessage_deleted_by_whom",
            ),
        ]

    def __str__(self) -> str:
        return f"Chat message {self.pk} by user {self.author_id} on stream {self.stream_id}"


class ChatRestrictionKind(models.TextChoices):
    MUTE = "mute", gettext_lazy("Muted on one stream")
    BAN = "ban", gettext_lazy("Banned from all of the creator's streams")


class ChatRestriction(models.Model):
    """A viewer kept out of a creator's chat: muted on one stream (for a while, or for the whole stream), or
    banned from every stream of the creator. Each row is also the record of the moderator's action."""

    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=gettext_lazy("creator")
    )
    viewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="chat_restrictions",
        verbose_name=gettext_lazy("viewer"),
    )
    kind = models.CharField(max_length=4, choices=ChatRestrictionKind.choices, verbose_name=gettext_lazy("kind"))
    stream = models.ForeignKey(
        LiveStream,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("stream"),
    )
    until = models.DateTimeField(
        null=True,
        blank=True,
        help_text=gettext_lazy("Empty: for the whole stream (mute) or for good (ban)."),
        verbose_name=gettext_lazy("until"),
    )
    reason_message = models.ForeignKey(
        ChatMessage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("reason message"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=gettext_lazy("created by")
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    # Lifting keeps the row (the record of both actions): who lifted it and when.
    lifted_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("lifted at"))
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("lifted by"),
    )

    class Meta:
        verbose_name = gettext_lazy("chat restriction")
        verbose_name_plural = gettext_lazy("chat restrictions")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["viewer", "creator"], name="gifting_chat_restriction_who")]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ChatRestrictionKind.values), name="gifting_chatrestriction_kind"
            ),
            models.CheckConstraint(
                condition=Q(kind=ChatRestrictionKind.MUTE, stream__isnull=False)
                | Q(kind=ChatRestrictionKind.BAN, stream__isnull=True),
                name="gifting_chatrestriction_mute_has_stream",
            ),
            models.CheckConstraint(condition=~Q(viewer=F("creator")), name="gifting_chatrestriction_not_self"),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True, lifted_by__isnull=True)
                | Q(lifted_at__isnull=False, lifted_by__isnull=False),
                name="gifting_chatrestriction_lifted_by_whom",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: user {self.viewer_id} by creator {self.creator_id}"
