"""`python manage.py bench_live` (`make bench-live`): live delivery to N viewers of one web process.

A benchmark, not a test: it prints what it measured and never fails on a slow figure.
"""

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench import live
from gifting.live.hub import FLUSH_TICK_SECONDS


def viewer_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError("--viewers takes whole numbers separated by commas, e.g. 1000,5000") from None
    if not counts or min(counts) < 1:
        raise CommandError("--viewers takes at least one viewer count above zero")
    return counts


class Command(BaseCommand):
    help = (
        "Open N Server-Sent Events viewers on one stream of one uvicorn process, send gifts through gift_send at a "
        "fixed rate, and report delivery, commit-to-receipt latency, the process's CPU, memory and database "
        "connections (var/bench/live.json)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--viewers", default="1000,5000", help="Viewer counts to run, e.g. 1000,5000,10000.")
        parser.add_argument("--rate", type=float, default=10.0, help="Gifts per second (default 10).")
        parser.add_argument("--seconds", type=float, default=20.0, help="How long gifts are sent per run (20).")
        parser.add_argument(
            "--output",
            type=Path,
            default=Path(settings.VAR_DIR) / "bench" / "live.json",
            help="Where to write the JSON results (default var/bench/live.json).",
        )

    def handle(self, *args: Any, viewers: str, rate: float, seconds: float, output: Path, **options: Any) -> None:
        counts = viewer_counts(viewers)
        load_before = os.getloadavg()[0]
        if rate <= 0 or seconds <= 0:
            raise CommandError("--rate and --seconds must be above zero")
        live.raise_open_files_limit()
        logging.getLogger("gifting.services").setLevel(logging.WARNING)  # a line per gift would cost the sender
        try:
            data = live.bench_setup()
        except LookupError as error:
            raise CommandError(str(error)) from None
        runs = []
        log_path = Path(settings.VAR_DIR) / "bench" / "live-uvicorn.log"
        try:
            with live.WebProcess(log_path=log_path) as web:
                idle = web.warm_up(data.streams[0].pk)
                for count in counts:
                    self.stderr.write(f"{count:,} viewers on one uvicorn process (pid {web.process.pid}) ...")
                    run = live.measure(
                        web, data, viewers=count, rate=rate, seconds=seconds, idle=idle, log=self.stderr.write
                    )
                    runs.append(run.figures())
                    self.stderr.write("  " + live.verdict(runs[-1]))
        except RuntimeError as error:
            raise CommandError(str(error)) from None
        finally:
            live.bench_teardown(data)
        load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}
        self._write(runs, output=output, rate=rate, seconds=seconds, load=load)

    def _write(
        self, runs: list[dict[str, Any]], *, output: Path, rate: float, seconds: float, load: dict[str, Any]
    ) -> None:
        main = max(runs, key=lambda run: run["viewers"] if run["viewers"] <= live.TARGET["viewers"] else 0)
        figures = {
            **main,
            "target": live.TARGET,
            "verdict": live.verdict(main),
            "runs": runs,
            "settings": {
                "rate": rate,
                "seconds": seconds,
                "server": "one uvicorn process, bench.settings (pooled connections, as make bench runs it)",
                "bus": "redis" if settings.REDIS_URL else "postgres-notify",
                "flush_tick_ms": round(FLUSH_TICK_SECONDS * 1000),
            },
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            # Other work on the machine takes cores from the web process and the viewers: read the figures with it.
            "machine_load_1min": load,
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=2) + "\n")
        for line in live.table_lines(runs):
            self.stdout.write(line)
        for run in runs:
            self.stdout.write(f"{run['viewers']:,} viewers: {live.verdict(run)}")
        self.stdout.write(
            f"Load average (1 min) {load['before']} before, {load['after']} after, on {load['cores']} cores"
        )
        self.stdout.write(f"Written to {output}")
