"""Staff-set settings and small staff-edited tables, read from the cache instead of the database.

- `SingletonModel`: one row of settings (staff-set economics, gifting and payout rules).
  `load()` returns it, or an unsaved row with the model's defaults when there is none: reading
  never writes (the rows are created by data migrations, or by staff in admin).
- `CachedTableModel`: a table small enough to read whole (the per-coin prices). `cached_rows()`
  returns every row.

Both are kept twice: in each process's memory, and in Django's cache (Redis in production, shared by
every process), which reads the database only on a miss. A process trusts its own copy for
`LOCAL_SECONDS`, then asks the shared cache again: a gift tap reads the confirmation threshold and
the coin rates without a round trip to Redis (docs/scaling.md). Every write through the model or its
querysets (save, delete, bulk update or delete, as admin does) drops both copies, at once and again
when the transaction commits: the writing process sees it on its next read, every other process
within `LOCAL_SECONDS`. Raw SQL writes would not: do not use them on these tables.

With Redis out, reads come from the database (and are kept in the process for `LOCAL_SECONDS`): every page
reads some of these, and without this a Redis outage answered 503 on every page, not only on the actions whose
rate limits live there. A write still needs the cache to drop its copy, so that no process keeps an old one: it
fails (admin's save then rolls back).
"""

import contextlib
import copy
import time
from collections.abc import Callable
from typing import Any, ClassVar, Self, cast

import redis
from django.core.cache import cache
from django.db import models, transaction

SINGLETON_PK = 1
CACHE_SECONDS = 300
# How long a process serves its own copy before it asks the shared cache (and so sees another process's save).
LOCAL_SECONDS = 1.0

# cache key -> (when this process read it from the shared cache, on the monotonic clock; the value)
_local: dict[str, tuple[float, Any]] = {}


def _forget(key: str) -> None:
    def forget_both() -> None:
        _local.pop(key, None)
        cache.delete(key)

    forget_both()
    # A reader between the delete and the commit may cache the old rows again: drop them once more.
    transaction.on_commit(forget_both)


def _read(key: str, read_database: Callable[[], Any]) -> Any:
    now = time.monotonic()
    held = _local.get(key)
    if held is not None and now - held[0] < LOCAL_SECONDS:
        return held[1]
    try:
        value = cache.get(key)
    except redis.RedisError:
        value = None  # Redis out (coinsite.lib.redis_cache): the database answers
    if value is None:
        value = read_database()
        with contextlib.suppress(redis.RedisError):
            cache.set(key, value, CACHE_SECONDS)
    _local[key] = (now, value)
    return value


def local_copies_forget() -> None:
    """Drop every process-local copy (the shared cache is Django's; `cache.clear()` empties that)."""
    _local.clear()


class _ForgettingQuerySet(models.QuerySet):
    """Bulk writes (admin's "delete selected", `update()`) drop the model's cached copy too."""

    def update(self, **kwargs: Any) -> int:
        updated = super().update(**kwargs)
        _forget(cast(type[_CachedModel], self.model).cache_key())
        return updated

    def delete(self) -> tuple[int, dict[str, int]]:
        deleted = super().delete()
        _forget(cast(type[_CachedModel], self.model).cache_key())
        return deleted


class _CachedModel(models.Model):
    objects = _ForgettingQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        _forget(self.cache_key())

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        deleted = super().delete(*args, **kwargs)
        _forget(self.cache_key())
        return deleted

    @classmethod
    def cache_key(cls) -> str:
        return f"cached-model:{cls._meta.label_lower}"


class SingletonModel(_CachedModel):
    """One row (pk 1) of staff-set settings."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = SINGLETON_PK
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> Self:
        """The one row (cached), or an unsaved one with the defaults when there is none.

        Each caller gets its own copy of the row: one that changes a field before saving it (as a test or
        a staff form may) never changes what concurrent requests of this process read.
        """
        return copy.copy(cls._shared())

    @classmethod
    def value(cls, name: str) -> Any:
        """One field of the row, as `load()` has it, read off the process's shared copy without copying the
        row: for hot paths that need one setting (a gift tap's confirmation threshold; the copy was 5-20 µs)."""
        return getattr(cls._shared(), name)

    @classmethod
    def _shared(cls) -> Self:
        """The cached row this process's requests share: read it, never change it."""
        return cast(
            Self,
            _read(
                cls.cache_key(), lambda: cls._default_manager.filter(pk=SINGLETON_PK).first() or cls(pk=SINGLETON_PK)
            ),
        )


class CachedTableModel(_CachedModel):
    """A small table (a row per currency, say) read whole."""

    CACHE_SECONDS: ClassVar[int] = CACHE_SECONDS

    class Meta:
        abstract = True

    @classmethod
    def cached_rows(cls) -> list[Self]:
        """Every row (cached). The rows are shared by the process's requests: read them, never change them."""
        return list(_read(cls.cache_key(), lambda: list(cls._default_manager.all())))
