"""Settings for the benchmark's own uvicorn server only: the site's, with the per-viewer gift rate limit off.

`make bench` drives a handful of senders as fast as the endpoint allows, to measure the endpoint;
the rate limit (`gifting.services.gift_send_rate_check`) would otherwise measure itself. Never deploy this.
"""

from coinsite.settings import *  # noqa: F403

GIFT_SEND_RATE_LIMITED = False
