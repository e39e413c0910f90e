"""`python manage.py bench_gifts` (`make bench`): gift throughput against pgbench, printed and saved as JSON.

A benchmark, not a test: it prints what it measured and never fails on a slow figure. The phases are
interleaved in rounds (pgbench uncontended, the service and HTTP spread over N creators, pgbench's hot
row, the service and HTTP all on one creator), so each ratio compares figures taken a few seconds
apart on the same machine; the table shows the median over the rounds and the spread (min .. max).
"""

import functools
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import psutil
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench import gifts as bench
from wallet.audit import ledger_audit_run

# The HTTP latency goal is taken at this share of the endpoint's own maximum in the same round (issue #13).
PACED_SHARE = 0.8
# Taps sent before the first round and not measured: a new uvicorn worker builds its URL resolver, templates
# and caches on its first requests (about 0.8 s of CPU here), which round 1 would otherwise count per gift.
HTTP_WARM_UP_SECONDS = 2.0


class Command(BaseCommand):
    help = (
        "Measure gifts/s and latency through gift_send and the HTTP endpoint (spread over N creators and "
        "all on one), interleaved with pgbench's TPC-B-like tps on the same server for several rounds; "
        "then run the ledger audit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--senders", type=int, default=8, help="Concurrent sender threads (default 8).")
        parser.add_argument("--seconds", type=float, default=8, help="Duration of each timed phase (default 8).")
        parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds of every phase (default 3).")
        parser.add_argument(
            "--processes",
            type=int,
            default=2,
            help="Also run the gift_send phases with the senders spread over this many processes "
            "(default 2; 0 or 1 skips), so one interpreter's GIL is not the limit.",
        )
        parser.add_argument(
            "--http-workers",
            type=int,
            default=2,
            help="Web processes, each a one-worker uvicorn on its own port, the senders spread evenly over them "
            "(default 2).",
        )
        parser.add_argument(
            "--http-path",
            default="",
            help="URL path of the gift endpoint to POST to, with {stream} for the stream id "
            "(default: the live room's one-tap endpoint, URL name gifting:gift-tap).",
        )
        parser.add_argument("--http-json", action="store_true", help="POST the gift as JSON instead of a form.")
        parser.add_argument("--skip-pgbench", action="store_true", help="Do not run pgbench (its figures are null).")
        parser.add_argument("--skip-http", action="store_true", help="Do not run the HTTP phases (null figures).")
        parser.add_argument(
            "--output",
            type=Path,
            default=Path(settings.VAR_DIR) / "bench" / "gifts.json",
            help="Where to write the JSON results (default var/bench/gifts.json).",
        )

    def handle(self, *args: Any, output: Path, **options: Any) -> None:
        senders = max(1, options["senders"])
        rounds = max(1, options["rounds"])
        figures: dict[str, Any] = {"senders": senders, "seconds": options["seconds"], "rounds": rounds, "notes": []}
        figures["redis"] = bool(settings.REDIS_URL)
        if not settings.REDIS_URL:
            figures["notes"].append(
                "REDIS_URL is not set: the cache is each process's own and live events go out by NOTIFY; "
                "deployed, both use Redis (set REDIS_URL to measure that shape)"
            )
        try:
            data = bench.bench_data_setup(senders=senders)
        except LookupError as error:
            raise CommandError(str(error)) from None
        # One INFO line per gift would flood the table and cost the measured process time.
        gift_logger = logging.getLogger("gifting.services")
        previous_level = gift_logger.level
        gift_logger.setLevel(logging.WARNING)
        # Measured as deployed, DEBUG off: `make` runs with DEBUG on, which wraps every statement in Django's
        # query log (about 9 % more CPU a gift). The benchmark's server turns it off too (bench/settings.py).
        previous_debug, settings.DEBUG = settings.DEBUG, False
        run_id = uuid.uuid4().hex[:12]
        per_round: list[dict[str, Any]] = []
        try:
            with ExitStack() as stack:
                databases = self._pgbench_databases(senders=senders, options=options, figures=figures)
                pgbench = stack.enter_context(databases)
                server = stack.enter_context(self._http_server(data, options=options, figures=figures))
                floor = stack.enter_context(self._floor_server(options=options)) if server is not None else None
                if server is not None:
                    self._http_warm_up(data, server=server, run_id=run_id, options=options)
                if floor is not None:
                    self._http_warm_up(data, server=floor, run_id=run_id, options=options, floor=True)
                for number in range(rounds):
                    self._log(f"Round {number + 1} of {rounds}")
                    prefix = f"bench:{run_id}:r{number}:"
                    per_round.append(
                        self._round(data, pgbench=pgbench, server=server, floor=floor, prefix=prefix, **options)
                    )
        finally:
            gift_logger.setLevel(previous_level)
            settings.DEBUG = previous_debug
            bench.bench_streams_end(data)
        figures.update(bench.rounds_summary(per_round))
        figures.update(_outcomes(per_round))
        figures["per_round"] = per_round
        report = ledger_audit_run()
        figures["ledger_audit_ok"] = report.ok
        if not report.ok:
            figures["notes"].append(f"ledger audit found {report.problem_count} problem(s): run manage.py ledger_audit")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        for line in bench.table_lines(figures):
            self.stdout.write(line)
        for note in figures["notes"]:
            self.stdout.write(f"note: {note}")
        self.stdout.write(f"Written to {output}")

    def _log(self, message: str) -> None:
        self.stderr.write(message)

    def _note(self, figures: dict, message: str) -> None:
        self.stderr.write(self.style.WARNING(message))
        figures["notes"].append(message)

    # --- Set-up shared by the rounds ------------------------------------------------------------

    @contextmanager
    def _pgbench_databases(self, *, senders: int, options: dict, figures: dict) -> Iterator[dict | None]:
        """pgbench's two scratch databases, initialised once: uncontended (scale >= clients) and hot (scale 1)."""
        if options["skip_pgbench"]:
            figures["notes"].append("pgbench skipped (--skip-pgbench)")
            yield None
            return
        pgbench = bench.pgbench_path()
        if pgbench is None:
            self._note(
                figures,
                "pgbench not found (looked in `pg_config --bindir`, /usr/lib/postgresql/*/bin, PATH): "
                "install the PostgreSQL client/server package; pgbench figures are null",
            )
            yield None
            return
        scale = max(senders, 10)
        figures["pgbench_scale"] = scale
        with bench.scratch_database() as uncontended, bench.scratch_database() as hot:
            self._log(f"pgbench ({pgbench}): initialising scale {scale} and scale 1 ...")
            ready = all(
                bench.pgbench_init(pgbench=pgbench, database=database, scale=database_scale, log=self._log)
                for database, database_scale in ((uncontended, scale), (hot, 1))
            )
            if not ready:
                self._note(figures, "pgbench could not initialise its databases; pgbench figures are null")
            yield {"pgbench": pgbench, "uncontended": uncontended, "hot": hot} if ready else None

    def _http_server(self, data: bench.BenchData, *, options: dict, figures: dict) -> Any:
        if options["skip_http"]:
            figures["notes"].append("HTTP phases skipped (--skip-http)")
            return nullcontext(None)
        if bench.gift_endpoint_path(data.streams[0], options["http_path"]) is None:
            self._note(figures, "the gift endpoint (URL name gifting:gift-tap) does not exist: HTTP figures are null")
            return nullcontext(None)
        workers = options["http_workers"]
        figures["http_workers"] = workers
        figures["http_path"] = bench.gift_endpoint_path(data.streams[0], options["http_path"])
        self._log(f"HTTP: {workers} uvicorn process(es) on {figures['http_path']} ...")
        return bench.WebProcesses(count=workers, log_path=Path(settings.VAR_DIR) / "bench" / "uvicorn.log")

    def _floor_server(self, *, options: dict) -> bench.WebProcesses:
        """The HTTP floor (bench/floor.py) on uvicorn processes of its own, as many as the site's."""
        count = options["http_workers"]
        self._log(f"HTTP floor: {count} uvicorn process(es) on {bench.FLOOR_PATH_TEMPLATE} ...")
        log_path = Path(settings.VAR_DIR) / "bench" / "uvicorn-floor.log"
        return bench.WebProcesses(count=count, log_path=log_path, app=bench.FLOOR_APP)

    def _http_warm_up(
        self, data: bench.BenchData, *, server: bench.WebProcesses, run_id: str, options: dict, floor: bool = False
    ) -> None:
        """Taps on every sender's connection (so on every web process) before anything is measured."""
        self._log(f"HTTP {'floor ' if floor else ''}warm-up: {HTTP_WARM_UP_SECONDS:.0f} s, not measured")
        bench.http_phase(
            data,
            ports=server.ports,
            targets=data.streams,
            seconds=HTTP_WARM_UP_SECONDS,
            prefix=f"bench:{run_id}:warm-up{'-floor' if floor else ''}:",
            path_template=bench.FLOOR_PATH_TEMPLATE if floor else (options["http_path"] or None),
            json_body=options["http_json"] and not floor,
            sender_header=floor,
        )

    # --- One round --------------------------------------------------------------------------------

    def _round(
        self,
        data: bench.BenchData,
        *,
        pgbench: dict | None,
        server: bench.WebProcesses | None,
        floor: bench.WebProcesses | None,
        prefix: str,
        **options: Any,
    ) -> dict[str, Any]:
        figures: dict[str, Any] = {}
        seconds, processes = options["seconds"], options["processes"]
        database = bench.database_server_process()
        meter = bench.CpuMeter(web=_web_processes(server), database=database)
        floor_meter = bench.CpuMeter(web=_web_processes(floor), database=database)
        spread_targets, hot_targets = data.streams, [data.streams[0]] * len(data.senders)
        latencies: dict[str, list[float]] = {"service": [], "multiprocess": [], "http": []}
        shapes = (("spread", spread_targets, "uncontended"), ("hot", hot_targets, "hot"))
        for shape, targets, pgbench_database in shapes:
            if pgbench is not None:
                self._log(f"  pgbench {pgbench_database}, {len(data.senders)} clients, {round(seconds)} s")
                meter.start()
                tps = bench.pgbench_run(
                    pgbench=pgbench["pgbench"],
                    database=pgbench[pgbench_database],
                    clients=len(data.senders),
                    seconds=max(1, round(seconds)),
                    log=self._log,
                )
                figures[f"pgbench_{pgbench_database}_tps"] = tps
                _cpu_figures(figures, f"pgbench_{pgbench_database}", meter.ms_per_gift(round((tps or 0) * seconds)))
                # The gift's one statement, then its writes alone as plain statements, both from pgbench.
                for kind, label, run in (
                    ("function", "calling the gift function", bench.pgbench_gift_function_run),
                    ("writes", "writing the gift's rows as plain statements", bench.pgbench_gift_writes_run),
                ):
                    self._log(f"  pgbench {label}, {shape}")
                    meter.start()
                    rate = run(
                        pgbench=pgbench["pgbench"],
                        data=data,
                        targets=targets,
                        seconds=max(1, round(seconds)),
                        prefix=f"{prefix}pg{kind[0]}-{shape}:",
                        log=self._log,
                    )
                    figures[f"pgbench_gift_{kind}_{shape}_gifts_per_s"] = rate
                    _cpu_figures(
                        figures, f"pgbench_gift_{kind}_{shape}", meter.ms_per_gift(round((rate or 0) * seconds))
                    )
            self._log(f"  gift_send {shape}: {len(data.senders)} senders -> {len(set(targets))} creator(s)")
            meter.start()
            service = bench.service_phase(data, targets=targets, seconds=seconds, prefix=f"{prefix}svc-{shape}:")
            _cpu_figures(figures, f"service_{shape}", meter.ms_per_gift(service.gifts))
            figures[f"service_{shape}_gifts_per_s"] = service.gifts_per_s
            figures[f"service_{shape}_p99_ms"] = service.percentile_ms(0.99)
            figures[f"service_{shape}_outcomes"] = dict(service.outcomes)
            latencies["service"] += service.latencies_ms
            if shape == "spread":
                self._log("  gift_send's statement from psycopg alone (the service's floor)")
                meter.start()
                driver = bench.driver_floor_phase(data, targets=targets, seconds=seconds, prefix=f"{prefix}drv:")
                _cpu_figures(figures, f"service_floor_{shape}", meter.ms_per_gift(driver.gifts))
                figures[f"service_floor_{shape}_gifts_per_s"] = driver.gifts_per_s
                figures[f"service_floor_{shape}_outcomes"] = dict(driver.outcomes)
            if processes > 1:
                self._log(f"  gift_send {shape} in {processes} processes")
                multi = bench.service_phase(
                    data, targets=targets, seconds=seconds, prefix=f"{prefix}mp-{shape}:", processes=processes
                )
                figures[f"service_multiprocess_{shape}_gifts_per_s"] = multi.gifts_per_s
                figures[f"service_multiprocess_{shape}_outcomes"] = dict(multi.outcomes)
                latencies["multiprocess"] += multi.latencies_ms
            if server is not None:
                self._log(f"  HTTP {shape}")
                http_phase = functools.partial(
                    bench.http_phase,
                    data,
                    ports=server.ports,
                    targets=targets,
                    seconds=seconds,
                    path_template=options["http_path"] or None,
                    json_body=options["http_json"],
                )
                meter.start()
                http = http_phase(prefix=f"{prefix}http-{shape}:")
                _cpu_figures(figures, f"http_{shape}", meter.ms_per_gift(http.gifts))
                figures[f"http_{shape}_gifts_per_s"] = http.gifts_per_s
                figures[f"http_{shape}_outcomes"] = dict(http.outcomes)
                latencies["http"] += http.latencies_ms
                if shape == "spread" and http.gifts_per_s:
                    rate = round(PACED_SHARE * http.gifts_per_s, 1)
                    self._log(f"  HTTP spread paced at {rate} gifts/s ({PACED_SHARE:.0%} of its maximum)")
                    meter.start()  # measured apart: a paced tap costs more than one at full speed (docs/scaling.md)
                    paced = http_phase(prefix=f"{prefix}http-paced:", rate=rate)
                    _cpu_figures(figures, "http_paced", meter.ms_per_gift(paced.gifts))
                    figures["http_paced_gifts_per_s"] = paced.gifts_per_s
                    figures["http_paced_p99_ms"] = paced.percentile_ms(0.99)
                    figures["http_paced_outcomes"] = dict(paced.outcomes)
            if floor is not None and shape == "spread":
                self._log("  HTTP floor spread (bench/floor.py: the gift alone over HTTP)")
                floor_meter.start()
                lowest = bench.http_phase(
                    data,
                    ports=floor.ports,
                    targets=targets,
                    seconds=seconds,
                    prefix=f"{prefix}floor-{shape}:",
                    path_template=bench.FLOOR_PATH_TEMPLATE,
                    sender_header=True,
                )
                _cpu_figures(figures, f"http_floor_{shape}", floor_meter.ms_per_gift(lowest.gifts))
                figures[f"http_floor_{shape}_gifts_per_s"] = lowest.gifts_per_s
                figures[f"http_floor_{shape}_outcomes"] = dict(lowest.outcomes)
        for name, key in (("service", "service"), ("multiprocess", "service_multiprocess"), ("http", "http")):
            if latencies[name]:
                figures[f"{key}_p50_ms"] = bench.percentile(latencies[name], 0.5)
                figures[f"{key}_p99_ms"] = bench.percentile(latencies[name], 0.99)
        return figures


def _web_processes(server: bench.WebProcesses | None) -> list[psutil.Process] | None:
    return server.processes() if server is not None else None


def _cpu_figures(figures: dict[str, Any], phase: str, spent: dict[str, float | None]) -> None:
    """`<phase>_cpu_ms_<part>`: CPU ms per gift by the clients (bench), the web server, PostgreSQL, the machine,
    and the CPU time stolen by the hypervisor meanwhile (per gift too)."""
    for part, value in spent.items():
        if part != "web" or phase.startswith("http"):
            figures[f"{phase}_cpu_ms_{part}"] = value


def _outcomes(per_round: list[dict[str, Any]]) -> dict[str, dict]:
    """Every phase's outcomes (ok, or the error/HTTP status) added up over the rounds."""
    totals: dict[str, Counter] = {}
    for figures in per_round:
        for key, value in figures.items():
            if key.endswith("_outcomes"):
                totals.setdefault(key, Counter()).update(value)
    return {key: dict(counter) for key, counter in totals.items()}
