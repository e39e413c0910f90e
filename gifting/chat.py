"""Chat on a live stream, and its moderation: posting, deleting a message, muting and banning a viewer.

Messages are rows (`ChatMessage`) published to the stream's viewers after they commit, as a row-backed
live event (source "c", so a page resuming with Last-Event-ID gets what it missed; `gifting.live.replay`).
The creator of the stream and staff moderate. A mute keeps a viewer out of one stream's chat (for a set
number of minutes, or for the rest of the stream); a ban keeps them out of every stream of the creator.
"""

import logging
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from coinsite.accounts.models import User
from coinsite.lib.rate_limit import RateLimit, RateLimited, rate_limit_hit
from gifting.live.events import CHAT, CHAT_DELETED, CHAT_SOURCE, chat_payload
from gifting.live.publish import live_publish
from gifting.models import (
    CHAT_MAX_LENGTH,
    ChatMessage,
    ChatRestriction,
    ChatRestrictionKind,
    CreatorProfile,
    LiveStream,
)

logger = logging.getLogger(__name__)

# A person chatting stays well under these; a script or a flood does not.
CHAT_RATE_LIMITS = (RateLimit(2, 1), RateLimit(20, 60))
MUTE_MAX_MINUTES = 24 * 60
# Unicode categories refused in a message: control characters (NUL included), lone surrogates (which no
# database encoding can store), private-use and unassigned code points, and format characters other than
# the joiners emoji need (bidirectional overrides can make a message read backwards).
_REFUSED_CATEGORIES = {"Cc", "Cs", "Co", "Cn"}
_ALLOWED_FORMAT = {"\u200c", "\u200d", "\ufe0f"}


class ChatError(Exception):
    """The chat action did not happen and nothing was written; ``str(error)`` is written for the person."""

    code = "chat_error"
    status = 400


class ChatInvalid(ChatError):
    code = "invalid"


class ChatNotAllowed(ChatError):
    status = 403

    def __init__(self, message: str, *, code: str) -> None:
        self.code = code
        super().__init__(message)


class ChatNotFound(ChatError):
    code = "not_found"
    status = 404


class ChatRateLimited(ChatError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


def chat_text_clean(text: object, *, max_length: int = CHAT_MAX_LENGTH) -> str:
    """The message as it will be stored: whitespace runs made single spaces, trimmed; ChatInvalid if it is empty,
    longer than `max_length`, or holds characters no message needs (see _REFUSED_CATEGORIES)."""
    if not isinstance(text, str):
        raise ChatInvalid(_("Write a message first."))
    text = " ".join(text.replace("\x00", "\ufffd").split())
    if any(_refused(character) for character in text):
        raise ChatInvalid(_("Your message contains characters that cannot be sent."))
    if not text:
        raise ChatInvalid(_("Write a message first."))
    if len(text) > max_length:
        raise ChatInvalid(
            _("Keep your message to %(max)d characters (it has %(length)d).") % {"max": max_length, "length": len(text)}
        )
    return text


def _refused(character: str) -> bool:
    if character == "\ufffd":  # what a NUL became above: refused, but named plainly
        return True
    category = unicodedata.category(character)
    return category in _REFUSED_CATEGORIES or (category == "Cf" and character not in _ALLOWED_FORMAT)


def _active_restrictions(now: object) -> Q:
    return Q(lifted_at__isnull=True) & (Q(until__isnull=True) | Q(until__gt=now))


SLOW_MODE_MAX_SECONDS = 600
BLOCKED_WORDS_MAX = 200
BLOCKED_WORD_MAX_LENGTH = 50


def blocked_words_parse(text: str) -> list[str]:
    """The creator's blocked words, one a line (whitespace runs made single spaces, case folded, duplicates
    dropped, order kept)."""
    words: list[str] = []
    for line in text.splitlines():
        word = " ".join(line.split()).casefold()
        if word and word not in words:
            words.append(word)
    return words


def blocked_word_found(text: str, words_text: str) -> str | None:
    """The first blocked word (from the creator's list, one a line) that `text` holds as a whole word or
    phrase, ignoring case; None when it holds none ("ass" blocks "Ass!" but not "class")."""
    folded = text.casefold()
    for word in blocked_words_parse(words_text):
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", folded):
            return word
    return None


@dataclass(frozen=True)
class _PostContext:
    creator_id: int
    is_live: bool
    restriction_kind: str | None
    restriction_until: object
    has_verified_email: bool
    slow_mode_seconds: int = 0
    blocked_words: str = ""
    last_posted_at: object = None


def _post_context(*, author: User, stream_id: int) -> _PostContext | None:
    """The stream, the author's active restriction (the longest) and whether their email is verified: one query."""
    now = timezone.now()
    restrictions = (
        ChatRestriction.objects.filter(creator_id=OuterRef("creator_id"), viewer=author)
        .filter(Q(stream__isnull=True) | Q(stream_id=OuterRef("pk")))
        .filter(_active_restrictions(now))
        .order_by("kind", "-until")  # "ban" before "mute"
    )
    row = (
        LiveStream.objects.filter(pk=stream_id)
        .annotate(
            restriction_kind=restrictions.values("kind")[:1],
            restriction_until=restrictions.values("until")[:1],
            verified=Exists(EmailAddress.objects.filter(user=author, verified=True)),
            last_posted_at=Subquery(
                ChatMessage.objects.filter(stream_id=OuterRef("pk"), author=author)
                .order_by("-created_at")
                .values("created_at")[:1]
            ),
        )
        .values(
            "creator_id",
            "ended_at",
            "restriction_kind",
            "restriction_until",
            "verified",
            "last_posted_at",
            "creator__creator_profile__chat_slow_mode_seconds",
            "creator__creator_profile__chat_blocked_words",
        )
        .first()
    )
    if row is None:
        return None
    return _PostContext(
        creator_id=row["creator_id"],
        is_live=row["ended_at"] is None,
        restriction_kind=row["restriction_kind"],
        restriction_until=row["restriction_until"],
        has_verified_email=bool(row["verified"]),
        slow_mode_seconds=row["creator__creator_profile__chat_slow_mode_seconds"] or 0,
        blocked_words=row["creator__creator_profile__chat_blocked_words"] or "",
        last_posted_at=row["last_posted_at"],
    )


def chat_post(*, author: User, stream_id: int, text: object) -> ChatMessage:
    """Post `text` to the stream's chat as `author` and publish it to every viewer once it commits.

    Refused, with nothing written, when the text is not a valid message (`chat_text_clean`), the author
    posts too fast (CHAT_RATE_LIMITS, counted before any database work), the stream has ended, the author's
    email is not verified, the author is muted on this stream or banned by its creator, the creator's slow
    mode asks the author to wait, or the text holds a word on the creator's blocked list. The creator is
    exempt from slow mode and from their own list.
    """
    text = chat_text_clean(text)
    _rate_check(author)
    context = _post_context(author=author, stream_id=stream_id)
    if context is None:
        raise ChatNotFound(_("No such stream."))
    _check_may_post(author, context)
    _check_blocked_words(author, context, text)
    _slow_mode_claim(author, stream_id, context)
    with transaction.atomic(durable=True):
        message = ChatMessage.objects.create(stream_id=stream_id, author=author, text=text)
        live_publish(
            stream_id=stream_id,
            event=CHAT,
            data=chat_payload(
                message_id=message.pk,
                stream_id=stream_id,
                author_name=author.display_name,
                text=text,
                is_creator=author.pk == context.creator_id,
                created_at=message.created_at,
            ),
            source=CHAT_SOURCE,
            event_id=message.pk,
        )
    return message


def _check_may_post(author: User, context: _PostContext) -> None:
    if not context.is_live:
        raise ChatNotAllowed(_("This stream has ended, so its chat is closed."), code="stream_ended")
    if not context.has_verified_email and author.pk != context.creator_id:
        raise ChatNotAllowed(_("Verify your email address to chat."), code="unverified")
    if context.restriction_kind == ChatRestrictionKind.BAN:
        raise ChatNotAllowed(_("The creator has banned you from the chat of their streams."), code="banned")
    if context.restriction_kind == ChatRestrictionKind.MUTE:
        if context.restriction_until is None:
            raise ChatNotAllowed(_("You are muted in this stream's chat."), code="muted")
        minutes = max(1, int((context.restriction_until - timezone.now()).total_seconds() + 59) // 60)  # type: ignore[operator]
        raise ChatNotAllowed(
            ngettext(
                "You are muted in this stream's chat for %(minutes)d more minute.",
                "You are muted in this stream's chat for %(minutes)d more minutes.",
                minutes,
            )
            % {"minutes": minutes},
            code="muted",
        )
    if author.pk == context.creator_id:
        return
    if context.slow_mode_seconds and context.last_posted_at is not None:
        waited = (timezone.now() - context.last_posted_at).total_seconds()  # type: ignore[operator]
        if waited < context.slow_mode_seconds:
            raise _slow_mode_wait(max(1, math.ceil(context.slow_mode_seconds - waited)))


def _slow_mode_claim(author: User, stream_id: int, context: _PostContext) -> None:
    """Claim the author's one message per slow-mode period in the shared cache. The check above reads the last
    message, and the per-second rate limit lets two posts through at once: both would pass it and both land."""
    if author.pk == context.creator_id or not context.slow_mode_seconds:
        return
    # The period is part of the key: a claim made under a longer slow mode must not outlive a shortened one.
    key = f"gifting:chat-slow:{stream_id}:{author.pk}:{context.slow_mode_seconds}"
    if not cache.add(key, 1, timeout=context.slow_mode_seconds):
        raise _slow_mode_wait(context.slow_mode_seconds)


def _slow_mode_wait(retry_after: int) -> ChatRateLimited:
    return ChatRateLimited(
        ngettext(
            "Slow mode is on: wait %(seconds)d second before your next message.",
            "Slow mode is on: wait %(seconds)d seconds before your next message.",
            retry_after,
        )
        % {"seconds": retry_after},
        retry_after=retry_after,
    )


def _check_blocked_words(author: User, context: _PostContext, text: str) -> None:
    if author.pk != context.creator_id and blocked_word_found(text, context.blocked_words):
        raise ChatNotAllowed(
            _("Your message contains a word the creator does not allow in this chat. Rephrase it and send it again."),
            code="blocked_word",
        )


def _rate_check(author: User) -> None:
    try:
        rate_limit_hit(f"gifting:chat:{author.pk}", *CHAT_RATE_LIMITS)
    except RateLimited as refused:
        raise ChatRateLimited(
            ngettext(
                "You are sending messages too quickly: wait %(seconds)d second.",
                "You are sending messages too quickly: wait %(seconds)d seconds.",
                refused.retry_after,
            )
            % {"seconds": refused.retry_after},
            retry_after=refused.retry_after,
        ) from None


# --- Moderation -----------------------------------------------------------------------------------


def chat_can_moderate(*, user: User, stream: LiveStream) -> bool:
    """The stream's creator and staff moderate its chat."""
    return user.is_authenticated and (user.pk == stream.creator_id or user.is_staff)


def _message_to_moderate(*, moderator: User, message_id: int) -> ChatMessage:
    message = ChatMessage.objects.select_related("stream").filter(pk=message_id).first()
    # Someone who may not moderate learns nothing about the message, not even that it exists.
    if message is None or not chat_can_moderate(user=moderator, stream=message.stream):
        raise ChatNotFound(_("No such message."))
    return message


def chat_delete(*, moderator: User, message_id: int) -> ChatMessage:
    """Hide the message from everyone (it is removed from every open page at once); the row keeps who did it.

    Deleting a deleted message changes nothing.
    """
    message = _message_to_moderate(moderator=moderator, message_id=message_id)
    with transaction.atomic(durable=True):
        deleted = ChatMessage.objects.filter(pk=message.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now(), deleted_by=moderator
        )
        if deleted:
            live_publish(stream_id=message.stream_id, event=CHAT_DELETED, data={"id": message.pk})
    if deleted:
        logger.info("Chat message %s deleted by user %s", message.pk, moderator.pk)
    message.refresh_from_db(fields=["deleted_at", "deleted_by"])
    return message


def chat_restrict(*, moderator: User, message_id: int, kind: str, minutes: int | None = None) -> ChatRestriction:
    """Mute the author of the message on its stream (for `minutes`, or the rest of the stream with None), or
    ban them from every stream of the stream's creator (`kind` "ban"; `minutes` is then ignored)."""
    message = _message_to_moderate(moderator=moderator, message_id=message_id)
    if kind not in ChatRestrictionKind.values:
        raise ChatInvalid(_("Choose to mute or to ban."))
    stream = message.stream
    if message.author_id == stream.creator_id or message.author_id == moderator.pk:
        raise ChatNotAllowed(_("You cannot mute or ban yourself or the creator."), code="self")
    until = None
    if kind == ChatRestrictionKind.MUTE and minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MUTE_MAX_MINUTES:
            raise ChatInvalid(_("Mute for 1 to %(max)d minutes.") % {"max": MUTE_MAX_MINUTES})
        until = timezone.now() + timedelta(minutes=minutes)
    with transaction.atomic(durable=True):
        restriction = ChatRestriction.objects.create(
            creator_id=stream.creator_id,
            viewer_id=message.author_id,
            kind=kind,
            stream=stream if kind == ChatRestrictionKind.MUTE else None,
            until=until,
            reason_message=message,
            created_by=moderator,
        )
    logger.info("Chat %s of user %s by user %s on stream %s", kind, message.author_id, moderator.pk, stream.pk)
    return restriction


def chat_lift(*, moderator: User, restriction_id: int) -> ChatRestriction:
    """Lift a mute or a ban early (the stream's creator or staff); the row keeps who lifted it and when.

    Lifting a lifted or expired restriction changes nothing; one the moderator may not lift is not found.
    """
    restriction = ChatRestriction.objects.filter(pk=restriction_id).first()
    if restriction is None or not (
        moderator.is_authenticated and (moderator.is_staff or moderator.pk == restriction.creator_id)
    ):
        raise ChatNotFound(_("No such mute or ban."))
    with transaction.atomic(durable=True):
        lifted = ChatRestriction.objects.filter(pk=restriction.pk, lifted_at__isnull=True).update(
            lifted_at=timezone.now(), lifted_by=moderator
        )
    if lifted:
        logger.info("Chat %s %s lifted by user %s", restriction.kind, restriction.pk, moderator.pk)
    restriction.refresh_from_db(fields=["lifted_at", "lifted_by"])
    return restriction


def chat_restrictions_active(*, creator_id: int) -> list[ChatRestriction]:
    """The creator's mutes and bans in force now, newest first, with the viewer (and mute's stream) loaded."""
    return list(
        ChatRestriction.objects.filter(creator_id=creator_id)
        .filter(_active_restrictions(timezone.now()))
        .select_related("viewer", "stream")
        .order_by("-created_at", "-id")[:100]
    )


def chat_settings_update(*, creator: User, slow_mode_seconds: int, blocked_words: str) -> CreatorProfile:
    """Set the creator's slow mode (0 to SLOW_MODE_MAX_SECONDS seconds; 0 turns it off) and blocked-words list
    (one word or phrase a line), stored normalised on their profile."""
    if not creator.is_creator:
        raise ChatNotAllowed(_("Only creators moderate a chat."), code="not_creator")
    if isinstance(slow_mode_seconds, bool) or not 0 <= slow_mode_seconds <= SLOW_MODE_MAX_SECONDS:
        raise ChatInvalid(_("Slow mode is 0 to %(max)d seconds.") % {"max": SLOW_MODE_MAX_SECONDS})
    words = blocked_words_parse(blocked_words or "")
    if len(words) > BLOCKED_WORDS_MAX:
        raise ChatInvalid(_("Block at most %(max)d words.") % {"max": BLOCKED_WORDS_MAX})
    if any(len(word) > BLOCKED_WORD_MAX_LENGTH for word in words):
        raise ChatInvalid(_("Keep each blocked word to %(max)d characters.") % {"max": BLOCKED_WORD_MAX_LENGTH})
    profile, _created = CreatorProfile.objects.update_or_create(
        user=creator, defaults={"chat_slow_mode_seconds": slow_mode_seconds, "chat_blocked_words": "\n".join(words)}
    )
    return profile
