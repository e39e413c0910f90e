"""A local webhook receiver for the tests: the example client's own (docs/examples/coinsite_client.py), so the
tests check what the docs tell receivers to do."""

import importlib.util
import sys
from pathlib import Path

from api.models import WebhookEndpoint

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "coinsite_client.py"


def example_client():
    spec = importlib.util.spec_from_file_location("coinsite_client", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("coinsite_client", module)
    spec.loader.exec_module(module)
    return module


class Recorder:
    """A transport that records deliveries and answers with the statuses given (the last one repeats)."""

    def __init__(self, *statuses: int | Exception):
        self.statuses = list(statuses) or [200]
        self.calls: list[tuple[str, bytes, dict]] = []

    def __call__(self, url, body, headers, timeout):
        self.calls.append((url, body, dict(headers)))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if isinstance(status, Exception):
            raise status
        return status


def local_receiver(endpoint, on_event):
    """The example client's receiver on a port the system picks, started, with `endpoint` pointed at it: two test
    runs on one machine (a CI run beside a local one) never fight over a fixed port."""
    receiver = example_client().WebhookReceiver([endpoint.secret], on_event, port=0)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=f"{receiver.url}hook")
    return receiver.start()
