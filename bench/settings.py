"""Settings for the benchmark's own uvicorn server only: the site's, with the per-viewer gift rate limit off.

`make bench` drives a handful of senders as fast as the endpoint allows, to measure the endpoint;
the rate limit (`gifting.services.gift_send_rate_check`) would otherwise measure itself. Never deploy this.
"""

from coinsite.lib import db_pool
from coinsite.settings import *  # noqa: F403

GIFT_SEND_RATE_LIMITED = False

# As deployed: no query log wrapped around every statement (the rest of production mode, TLS redirects and
# required secrets, stays off so the benchmark runs on any development machine).
DEBUG = False

# The server is benchmarked as it is deployed under ASGI: with a connection pool (see DB_POOL_MAX).
if "pool" not in DATABASES["default"].get("OPTIONS", {}):  # noqa: F405
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 12, **db_pool.POOL_CALLBACKS}  # noqa: F405
