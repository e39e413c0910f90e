"""Staff-set settings and small staff-edited tables, read from the cache instead of the database.

- `SingletonModel`: one row of settings (staff-set economics, gifting and payout rules).
  `load()` returns it, or an unsaved row with the model's defaults when there is none: reading
  never writes (the rows are created by data migrations, or by staff in admin).
- `CachedTableModel`: a table small enough to read whole (the per-coin prices). `cached_rows()`
  returns every row.

Both live in Django's cache (Redis in production, so shared by every process) and are read from
the database only on a miss. Every write through the model or its querysets (save, delete, bulk
update or delete, as admin does) drops the cached copy, at once and again when the transaction
commits, so the next read anywhere sees it. Raw SQL writes would not: do not use them on these tables.
"""

from typing import Any, ClassVar, Self, cast

from django.core.cache import cache
from django.db import models, transaction

SINGLETON_PK = 1
CACHE_SECONDS = 300


def _forget(key: str) -> None:
    cache.delete(key)
    # A reader between the delete and the commit may cache the old rows again: drop them once more.
    transaction.on_commit(lambda: cache.delete(key))


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
        """The one row (cached), or an unsaved one with the defaults when there is none."""
        row = cache.get(cls.cache_key())
        if row is None:
            row = cls._default_manager.filter(pk=SINGLETON_PK).first() or cls(pk=SINGLETON_PK)
            cache.set(cls.cache_key(), row, CACHE_SECONDS)
        return row


class CachedTableModel(_CachedModel):
    """A small table (a row per currency, say) read whole."""

    CACHE_SECONDS: ClassVar[int] = CACHE_SECONDS

    class Meta:
        abstract = True

    @classmethod
    def cached_rows(cls) -> list[Self]:
        rows = cache.get(cls.cache_key())
        if rows is None:
            rows = list(cls._default_manager.all())
            cache.set(cls.cache_key(), rows, CACHE_SECONDS)
        return rows
