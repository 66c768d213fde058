"""Configuration fails fast with a message naming the variable; production settings pass check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "SECRET_KEY": "x" * 60 + "yZ-3",
    "DEBUG": "0",
    "ALLOWED_HOSTS": "chat.example.com",
    "DATABASE_URL": "postgres://u:p@db.example.com:5432/chat",
    "REDIS_URL": "redis://redis.example.com:6379/0",
    "PATH": os.environ["PATH"],
    "DJANGO_SETTINGS_MODULE": "chatplatform.settings",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, text=True, capture_output=True, timeout=120
    )


def test_missing_secret_key_in_production_names_the_variable() -> None:
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr.splitlines()[-1]


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_launcher_rejects_unreachable_vllm_naming_the_variable(tmp_path: Path) -> None:
    from chatplatform.launcher.embedded import ServiceStartError, check_vllm_reachable, free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    try:
        check_vllm_reachable(url, "SmolLM2-135M-Instruct", timeout=1)
    except ServiceStartError as exc:
        assert f"VLLM_BASE_URL={url}" in str(exc)
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("an unreachable VLLM_BASE_URL was accepted")


def test_launcher_rejects_a_model_the_server_does_not_serve(stub_llm_server) -> None:
    from chatplatform.launcher.embedded import ServiceStartError, check_vllm_reachable

    try:
        check_vllm_reachable(stub_llm_server.base_url, "no-such-model")
    except ServiceStartError as exc:
        assert "VLLM_MODEL=no-such-model" in str(exc) and "stub-model" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("a model the server does not serve was accepted")


def test_models_and_migrations_agree(db) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)  # exits non-zero on drift
    assert "No changes detected" in out.getvalue()
