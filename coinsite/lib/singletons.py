"""One-row settings models (staff-set economics, gifting and payout rules), read without a query.

`SingletonModel.load()` returns the row from Django's cache (Redis in production, so shared by every
process), reading the database only on a miss; saving the row drops it from the cache, at once and
again when the transaction commits, so the next read anywhere sees the new values. A missing row
reads as an unsaved one with the model's defaults: reading never writes (the rows are created by
data migrations, or by staff in admin). Write these rows through `save()`, never `QuerySet.update()`,
or readers keep the old values until `CACHE_SECONDS` pass.
"""

from typing import Any, ClassVar, Self

from django.core.cache import cache
from django.db import models, transaction

SINGLETON_PK = 1


class SingletonModel(models.Model):
    CACHE_SECONDS: ClassVar[int] = 300

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = SINGLETON_PK
        super().save(*args, **kwargs)
        key = self.cache_key()
        cache.delete(key)
        # A reader between the delete and the commit may cache the old row again: drop it once more.
        transaction.on_commit(lambda: cache.delete(key))

    @classmethod
    def cache_key(cls) -> str:
        return f"singleton:{cls._meta.label_lower}"

    @classmethod
    def load(cls) -> Self:
        """The one row (cached), or an unsaved one with the defaults when there is none."""
        row = cache.get(cls.cache_key())
        if row is None:
            row = cls._default_manager.filter(pk=SINGLETON_PK).first() or cls(pk=SINGLETON_PK)
            cache.set(cls.cache_key(), row, cls.CACHE_SECONDS)
        return row
