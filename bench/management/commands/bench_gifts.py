"""`python manage.py bench_gifts` (`make bench`): gift throughput against pgbench, printed and saved as JSON.

A benchmark, not a test: it prints what it measured and never fails on a slow figure.
"""

import json
import logging
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench import gifts as bench
from wallet.audit import ledger_audit_run


class Command(BaseCommand):
    help = (
        "Measure gifts/s and latency through gift_send and the HTTP endpoint (spread over N creators and "
        "all on one), next to pgbench's TPC-B-like tps on the same server; then run the ledger audit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--senders", type=int, default=8, help="Concurrent sender threads (default 8).")
        parser.add_argument("--seconds", type=float, default=10, help="Duration of each timed phase (default 10).")
        parser.add_argument(
            "--processes",
            type=int,
            default=2,
            help="Also run the gift_send phases with the senders spread over this many processes "
            "(default 2; 0 or 1 skips), so one interpreter's GIL is not the limit.",
        )
        parser.add_argument("--http-workers", type=int, default=2, help="uvicorn worker processes (default 2).")
        parser.add_argument("--skip-pgbench", action="store_true", help="Do not run pgbench (its figures are null).")
        parser.add_argument("--skip-http", action="store_true", help="Do not run the HTTP phases (null figures).")
        parser.add_argument(
            "--output",
            type=Path,
            default=Path(settings.VAR_DIR) / "bench" / "gifts.json",
            help="Where to write the JSON results (default var/bench/gifts.json).",
        )

    def handle(
        self,
        *args: Any,
        senders: int,
        seconds: float,
        processes: int,
        http_workers: int,
        skip_pgbench: bool,
        skip_http: bool,
        output: Path,
        **options: Any,
    ) -> None:
        senders = max(1, senders)
        figures: dict[str, Any] = {"senders": senders, "seconds": seconds, "notes": []}
        figures.update(self._pgbench(senders=senders, seconds=seconds, skip=skip_pgbench, notes=figures["notes"]))
        try:
            data = bench.bench_data_setup(senders=senders)
        except LookupError as error:
            raise CommandError(str(error)) from None
        # One INFO line per gift would flood the table and cost the measured process time.
        gift_logger = logging.getLogger("gifting.services")
        previous_level = gift_logger.level
        gift_logger.setLevel(logging.WARNING)
        run_id = uuid.uuid4().hex[:12]
        try:
            figures.update(self._service(data, seconds=seconds, run_id=run_id))
            if processes > 1:
                figures.update(self._service_processes(data, seconds=seconds, run_id=run_id, processes=processes))
            figures.update(
                self._http(
                    data, seconds=seconds, run_id=run_id, workers=http_workers, skip=skip_http, notes=figures["notes"]
                )
            )
        finally:
            gift_logger.setLevel(previous_level)
            bench.bench_streams_end(data)
        report = ledger_audit_run()
        figures["ledger_audit_ok"] = report.ok
        if not report.ok:
            figures["notes"].append(f"ledger audit found {report.problem_count} problem(s): run manage.py ledger_audit")
        figures.update(bench.ratios(figures))
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        for line in bench.table_lines(figures):
            self.stdout.write(line)
        for note in figures["notes"]:
            self.stdout.write(f"note: {note}")
        self.stdout.write(f"Written to {output}")

    def _log(self, message: str) -> None:
        self.stderr.write(message)

    def _pgbench(self, *, senders: int, seconds: float, skip: bool, notes: list) -> dict:
        nothing = {"pgbench_uncontended_tps": None, "pgbench_hot_tps": None}
        if skip:
            notes.append("pgbench skipped (--skip-pgbench)")
            return nothing
        pgbench = bench.pgbench_path()
        if pgbench is None:
            message = (
                "pgbench not found (looked in `pg_config --bindir`, /usr/lib/postgresql/*/bin, PATH): "
                "install the PostgreSQL client/server package; pgbench figures are null"
            )
            self.stderr.write(self.style.WARNING(message))
            notes.append(message)
            return nothing
        run_seconds = max(1, round(seconds))
        scale = max(senders, 10)
        self._log(f"pgbench ({pgbench}): scale {scale}, {senders} clients, {run_seconds} s ...")
        uncontended = bench.pgbench_tps(
            pgbench=pgbench, scale=scale, clients=senders, seconds=run_seconds, log=self._log
        )
        self._log(f"pgbench: scale 1 (one hot branch row), {senders} clients, {run_seconds} s ...")
        hot = bench.pgbench_tps(pgbench=pgbench, scale=1, clients=senders, seconds=run_seconds, log=self._log)
        return {"pgbench_uncontended_tps": uncontended, "pgbench_hot_tps": hot, "pgbench_scale": scale}

    def _service(self, data: bench.BenchData, *, seconds: float, run_id: str) -> dict:
        self._log(f"gift_send: {len(data.senders)} senders -> {len(data.streams)} creators, {seconds} s ...")
        spread = bench.service_phase(data, targets=data.streams, seconds=seconds, prefix=f"bench:{run_id}:svc-s:")
        self._log(f"gift_send: {len(data.senders)} senders -> 1 creator, {seconds} s ...")
        hot = bench.service_phase(
            data, targets=[data.streams[0]] * len(data.senders), seconds=seconds, prefix=f"bench:{run_id}:svc-h:"
        )
        both = bench.PhaseResult(latencies_ms=spread.latencies_ms + hot.latencies_ms)
        return {
            "service_spread_gifts_per_s": spread.gifts_per_s,
            "service_hot_gifts_per_s": hot.gifts_per_s,
            "service_p50_ms": both.percentile_ms(0.5),
            "service_p99_ms": both.percentile_ms(0.99),
            "service_spread_p99_ms": spread.percentile_ms(0.99),
            "service_hot_p99_ms": hot.percentile_ms(0.99),
            "service_spread_outcomes": dict(spread.outcomes),
            "service_hot_outcomes": dict(hot.outcomes),
        }

    def _service_processes(self, data: bench.BenchData, *, seconds: float, run_id: str, processes: int) -> dict:
        self._log(f"gift_send in {processes} processes: spread, then hot, {seconds} s each ...")
        spread = bench.service_phase(
            data, targets=data.streams, seconds=seconds, prefix=f"bench:{run_id}:mp-s:", processes=processes
        )
        hot = bench.service_phase(
            data,
            targets=[data.streams[0]] * len(data.senders),
            seconds=seconds,
            prefix=f"bench:{run_id}:mp-h:",
            processes=processes,
        )
        both = bench.PhaseResult(latencies_ms=spread.latencies_ms + hot.latencies_ms)
        return {
            "service_processes": processes,
            "service_multiprocess_spread_gifts_per_s": spread.gifts_per_s,
            "service_multiprocess_hot_gifts_per_s": hot.gifts_per_s,
            "service_multiprocess_p99_ms": both.percentile_ms(0.99),
            "service_multiprocess_spread_outcomes": dict(spread.outcomes),
            "service_multiprocess_hot_outcomes": dict(hot.outcomes),
        }

    def _http(
        self, data: bench.BenchData, *, seconds: float, run_id: str, workers: int, skip: bool, notes: list
    ) -> dict:
        nothing = {
            "http_spread_gifts_per_s": None,
            "http_hot_gifts_per_s": None,
            "http_p50_ms": None,
            "http_p99_ms": None,
        }
        if skip:
            notes.append("HTTP phases skipped (--skip-http)")
            return nothing
        if bench.gift_endpoint_path(data.streams[0]) is None:
            message = "the gift endpoint (URL name gifting:send) does not exist yet: HTTP figures are null"
            self.stderr.write(self.style.WARNING(message))
            notes.append(message)
            return nothing
        log_path = Path(settings.VAR_DIR) / "bench" / "uvicorn.log"
        self._log(f"HTTP: uvicorn with {workers} worker(s); {len(data.senders)} senders, {seconds} s per phase ...")
        try:
            with bench.Server(workers=workers, log_path=log_path) as server:
                spread = bench.http_phase(
                    data, port=server.port, targets=data.streams, seconds=seconds, prefix=f"bench:{run_id}:http-s:"
                )
                hot = bench.http_phase(
                    data,
                    port=server.port,
                    targets=[data.streams[0]] * len(data.senders),
                    seconds=seconds,
                    prefix=f"bench:{run_id}:http-h:",
                )
        except RuntimeError as error:
            self.stderr.write(self.style.WARNING(f"HTTP phases not run: {error}"))
            notes.append(f"HTTP phases not run: {error}")
            return nothing
        both = bench.PhaseResult(latencies_ms=spread.latencies_ms + hot.latencies_ms)
        return {
            "http_spread_gifts_per_s": spread.gifts_per_s,
            "http_hot_gifts_per_s": hot.gifts_per_s,
            "http_p50_ms": both.percentile_ms(0.5),
            "http_p99_ms": both.percentile_ms(0.99),
            "http_workers": workers,
            "http_conn_max_age": server.conn_max_age,
            "http_spread_outcomes": dict(spread.outcomes),
            "http_hot_outcomes": dict(hot.outcomes),
        }
