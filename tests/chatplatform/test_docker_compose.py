"""No Docker engine runs here, so the compose file is checked statically: the services exist,
have health checks, and every variable it passes to the app is one the settings read."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def settings_variables() -> set[str]:
    source = (REPO / "chatplatform" / "settings.py").read_text()
    return set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))


def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_services_exist_with_health_checks() -> None:
    services = compose()["services"]
    for name in ("postgres", "redis", "web", "worker", "vllm"):
        assert name in services, name
        assert "healthcheck" in services[name], f"{name} has no health check"
    assert "pgvector" in services["postgres"]["image"]
    assert services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    command = " ".join(services["vllm"]["command"])
    assert "--max-model-len" in command and "VLLM_MAX_MODEL_LEN" in command and "VLLM_MODEL_ID" in command
    assert "--pool" in services["worker"]["command"] and "threads" in services["worker"]["command"]


def test_every_app_variable_is_read_by_settings() -> None:
    known = settings_variables()
    assert {"DATABASE_URL", "REDIS_URL", "VLLM_BASE_URL", "VLLM_MODEL", "SECRET_KEY"} <= known
    services = compose()["services"]
    for name in ("web", "worker", "migrate"):
        unknown = set(services[name]["environment"]) - known
        assert not unknown, f"{name} sets variables the settings never read: {sorted(unknown)}"


def test_app_services_point_at_compose_services() -> None:
    env = compose()["services"]["web"]["environment"]
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    assert env["VLLM_BASE_URL"] == "http://vllm:8000/v1"
