"""The ASGI entry point: the live event streams and poll documents as plain ASGI (`gifting.live.asgi`), so
thousands of open streams hold no database connection and no thread; every other address is Django's."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "coinsite.settings")

from coinsite.lib.one_hop import get_one_hop_asgi_application

django_application = get_one_hop_asgi_application()  # one thread hop per request (coinsite.lib.one_hop)

from gifting.live.asgi import live_application  # noqa: E402 (needs the apps that get_asgi_application loads)

application = live_application(django_application)
