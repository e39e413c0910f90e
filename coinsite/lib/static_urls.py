"""Static URLs worked out once per process.

A path's static URL cannot change while a process runs (in production the manifest is read at startup),
yet `static()` asks the storage every time: 8 % of a gift's Python went into the artwork URL of its live
event, and the live room names every gift's artwork and every creator's avatar. `static_url` remembers
them, and forgets them when the static settings change (tests), as Django resets the storage itself.
"""

from functools import lru_cache
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.templatetags.static import static


@lru_cache(maxsize=1024)
def static_url(path: str) -> str:
    """`static(path)`, once per path and process."""
    return static(path)


@receiver(setting_changed)
def _forget_static_urls(*, setting: str, **kwargs: Any) -> None:
    if setting in {"STATIC_URL", "STATIC_ROOT", "STORAGES"}:
        static_url.cache_clear()
