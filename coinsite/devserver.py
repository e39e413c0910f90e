"""`make run`: the whole site on one machine with nothing installed: web server, Celery worker and beat.

With DATABASE_URL unset the embedded PostgreSQL runs for as long as this does. With
CELERY_BROKER_URL unset the worker and beat use kombu's filesystem transport under var/celery/, a
broker that needs no server, so roll-ups, sweeps, the daily ledger audit and the monthly statements
run as they do in production. Ctrl-C (or SIGTERM) stops the web server, worker and beat, then the
database. Settings import the small helpers at the top; nothing here runs on import.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from coinsite import embedded_db
from coinsite.env import BASE_DIR, var_dir

# The host part is ignored; naming one keeps kombu from warning that none was given.
FILESYSTEM_BROKER = "filesystem://localhost//"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How long the web server, worker and beat get to finish after SIGTERM before they are killed.
GRACE_SECONDS = 15


def broker_transport_options(var: Path) -> dict[str, str]:
    """kombu's filesystem transport: one folder is both in- and out-box, so producers reach the worker."""
    queue = str(_celery_dir(var) / "queue")
    return {"data_folder_in": queue, "data_folder_out": queue, "control_folder": str(_celery_dir(var) / "control")}


def browser_host(host: str) -> str:
    """The address a browser uses for a server bound to `host` (a wildcard bind is reached locally)."""
    if host in {"", "0.0.0.0", "::"}:  # noqa: S104 (recognising the wildcard, not binding to it)
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _celery_dir(var: Path) -> Path:
    return var / "celery"


def main() -> int:
    var = var_dir()
    env = {**os.environ, "DB_POOL_MAX": os.environ.get("DB_POOL_MAX") or "8"}
    env["CELERY_BROKER_URL"] = env.get("CELERY_BROKER_URL") or FILESYSTEM_BROKER
    host, port = env.get("HOST") or "127.0.0.1", env.get("PORT") or "8000"
    for folder in (var / "staticfiles", _celery_dir(var) / "queue", _celery_dir(var) / "control"):
        folder.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request without staticfiles
    with embedded_db.running_if_needed():
        for command in (["migrate", "--noinput"], ["seed_demo"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=BASE_DIR, env=env, check=True)  # noqa: S603
        print(
            f"\nCoinsite on http://{browser_host(host)}:{port}/ with a Celery worker and beat "
            f"(broker {env['CELERY_BROKER_URL']}). Mail is saved under {var / 'mail'}/. Ctrl-C stops everything.\n",
            flush=True,
        )
        return supervise(
            [
                # ASGI, so the live pages' Server-Sent Events stream (runserver is WSGI and would buffer them).
                ["-m", "uvicorn", "coinsite.asgi:application", "--host", host, "--port", port,
                 "--timeout-graceful-shutdown", "3"],
                ["-m", "celery", "-A", "coinsite", "worker", "--loglevel=INFO", "--concurrency=2"],
                ["-m", "celery", "-A", "coinsite", "beat", "--loglevel=INFO",
                 "--schedule", str(var / "celerybeat-schedule")],
            ],
            env=env,
        )  # fmt: skip


def supervise(commands: list[list[str]], *, env: dict[str, str]) -> int:
    """Run the Python commands side by side until one ends or we are told to stop; then stop them all.

    Each runs in its own session, so a Ctrl-C reaches only this process, which then stops them in
    order and waits for them: nothing is left running, and the database stops after its users.
    """
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in STOP_SIGNALS}
    processes = [
        subprocess.Popen([sys.executable, *command], cwd=BASE_DIR, env=env, start_new_session=True)  # noqa: S603
        for command in commands
    ]
    try:
        while not stop.wait(0.5):
            ended = [
                (command, process)
                for command, process in zip(commands, processes, strict=True)
                if process.poll() is not None
            ]
            if ended:
                command, process = ended[0]
                print(f"{' '.join(command[:3])} exited ({process.returncode}); stopping.", file=sys.stderr)
                return 1
        return 0
    finally:
        _stop_all(processes)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()  # the main process only: a Celery worker stops its own pool
    for process in processes:
        try:
            process.wait(GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
        _signal_group(process, signal.SIGKILL)  # anything it left behind (a worker's pool processes)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


if __name__ == "__main__":
    sys.exit(main())
