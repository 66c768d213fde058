"""Run platform processes (a Celery worker) as real subprocesses against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

REPO = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    db = settings.DATABASES["default"]
    host = db.get("HOST") or ""
    socket_dir = (db.get("OPTIONS") or {}).get("host")
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    if socket_dir:
        return f"postgres://{auth}@/{db['NAME']}?host={socket_dir}"
    return f"postgres://{auth}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def _process_env(extra_env: dict[str, str] | None) -> dict[str, str]:
    """The test run's services (database, Redis, LLM) for a platform subprocess."""
    return {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "VLLM_BASE_URL": settings.VLLM_BASE_URL,
        "VLLM_MODEL": settings.VLLM_MODEL,
        **(extra_env or {}),
    }


def start_beat(*, log: Path, schedule: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Celery beat as `make run` and the deployments start it, against the test broker."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "chatplatform",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(schedule),
        ],
        cwd=REPO,
        env=_process_env(extra_env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_worker(
    *,
    log: Path,
    extra_env: dict[str, str] | None = None,
    concurrency: int = 4,
    queue: str | None = None,
    pool: str = "threads",
) -> subprocess.Popen[bytes]:
    """A Celery worker subprocess. `queue`: consume only that queue (see `own_turn_queue` in
    tests/conftest.py), so that the session's in-process worker cannot take its turns."""
    env = _process_env(extra_env)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "chatplatform",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            *(["--queues", queue] if queue else []),
        ],
        cwd=REPO,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
