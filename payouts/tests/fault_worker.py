"""The Celery app the kill-mid-payout test runs as its worker: coinsite's own app, with one fault.

In each worker child the sandbox payout provider pauses right after it accepted a transfer and
before the worker records it; the first pause writes the child's pid to the marker file named by
COINSITE_TEST_PAUSE_AFTER_PAYOUT_SUBMIT, so the test knows whom to kill. Production code knows
nothing of this: the fault lives here, in the tests.
"""

import os
import time
from pathlib import Path
from typing import Any

from celery.signals import worker_process_init

from coinsite.celery import app

__all__ = ["app"]

MARKER_VARIABLE = "COINSITE_TEST_PAUSE_AFTER_PAYOUT_SUBMIT"
PAUSE_SECONDS = 60


@worker_process_init.connect
def _pause_after_each_first_submit(**_kwargs: Any) -> None:
    marker_path = os.environ.get(MARKER_VARIABLE)
    if not marker_path:  # imported by the test process itself (its solo-pool workers send this signal too)
        return
    # Deferred import: Django's app registry is only ready in the worker child, not at module import.
    from payouts.providers import SandboxPayoutProvider  # noqa: PLC0415

    submit = SandboxPayoutProvider.submit

    def submit_then_pause(self: SandboxPayoutProvider, payout: Any) -> str:
        reference = submit(self, payout)
        marker = Path(marker_path)
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            time.sleep(PAUSE_SECONDS)
        return reference

    SandboxPayoutProvider.submit = submit_then_pause  # type: ignore[method-assign]
