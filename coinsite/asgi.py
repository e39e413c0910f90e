"""The ASGI entry point: the live event streams and poll documents as plain ASGI (`gifting.live.asgi`), so
thousands of open streams hold no database connection and no thread; every other address is Django's.
Under a server, the process's long-lived objects are frozen out of the garbage collector's way
(`coinsite.lib.gc_freeze`)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coinsite.settings")

from coinsite.lib.one_hop import get_one_hop_asgi_application

django_application = get_one_hop_asgi_application()  # one thread hop per request (coinsite.lib.one_hop)

from coinsite.lib.gc_freeze import freezing_after_warm_up  # noqa: E402
from gifting.live.asgi import live_application  # noqa: E402 (needs the apps that get_asgi_application loads)

# Long-lived objects out of the collector's full collections once the server has started (coinsite.lib.gc_freeze).
application = freezing_after_warm_up(live_application(django_application))
