"""docker-compose.yml: the schema (Debian's `docker-compose config`, no daemon needed) and what matters
for running it at scale: only the proxy publishes a host port, health checks hit real endpoints, the
worker runs the threads pool, the HTTPS settings are explicit, every app process has its own
Prometheus multiprocess directory.

The structural checks run twice: on the file as PyYAML reads it (always), and on what
`docker-compose config` renders from it (skipped when the tool is missing: `make browser-deps`
installs it as root, or `apt-get install docker-compose`)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.urls import Resolver404, resolve

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
APP_SERVICES = ("migrate", "web", "worker", "beat", "nlu")
# Read by libraries or other processes, not by chatplatform/settings.py.
NON_SETTINGS_VARIABLES = {
    "PROMETHEUS_MULTIPROC_DIR",  # prometheus_client's multiprocess mode
    "WORKER_METRICS_PORT",  # the worker's own /metrics server (chatplatform/celery.py)
    "NLU_SERVICE_TOKEN",  # the NLU service's shared token
}
# Variables docker-compose needs without a default (the `:?` ones).
REQUIRED_ENV = {"SECRET_KEY": "compose-test-secret"}


def raw_config() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def rendered_config(*, profile: str | None = None, env: dict[str, str] | None = None) -> dict:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    argv = [tool, "-f", str(COMPOSE_FILE)]
    if profile:
        argv += ["--profile", profile]
    result = subprocess.run(
        [*argv, "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **REQUIRED_ENV, **(env or {})},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(params=["raw", "docker-compose config"])
def config(request: pytest.FixtureRequest) -> dict:
    return raw_config() if request.param == "raw" else rendered_config()


def settings_variables() -> set[str]:
    source = (REPO / "chatplatform" / "settings.py").read_text()
    return set(re.findall(r"""(?:env(?:\.\w+)?|_ip_networks)\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))


def command_text(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_only_the_proxy_publishes_a_host_port(config: dict) -> None:
    services = config["services"]
    publishing = {name for name, service in services.items() if service.get("ports")}
    assert publishing == {"proxy"}
    assert "ports" not in services["web"], "a fixed host port on web collides with --scale web=N"
    assert "8000" in [str(port) for port in services["web"]["expose"]]
    assert services["proxy"]["image"].startswith("nginx:")


def test_the_proxy_is_the_only_other_member_of_the_edge_network(config: dict) -> None:
    """TRUSTED_PROXIES is the edge subnet: nothing but the proxy may send requests from it."""
    services = config["services"]
    on_edge = {name for name, service in services.items() if "edge" in (service.get("networks") or {})}
    assert on_edge == {"proxy", "web"}
    subnet = config["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    web_env = services["web"]["environment"]
    assert web_env["TRUSTED_PROXIES"] == subnet
    assert command_text(services["web"]).split("--forwarded-allow-ips ")[1].split()[0] == subnet


def test_every_healthcheck_uses_a_real_endpoint(config: dict) -> None:
    services = config["services"]
    checks = {name: healthcheck_text(s) for name, s in services.items() if "healthcheck" in s}
    assert set(checks) >= {"postgres", "redis", "vllm", "web", "worker", "nlu", "proxy"}
    assert "pg_isready" in checks["postgres"]
    assert "redis-cli ping" in checks["redis"]
    assert "inspect ping -d celery@$HOSTNAME" in checks["worker"].replace("$$", "$")
    # The worker's node name is Celery's default, celery@<hostname>, which the ping names.
    assert " -n " not in command_text(services["worker"])
    assert "http://localhost:8000/health " in checks["vllm"] + " "
    assert checks["web"].endswith("deploy/healthcheck.py http://127.0.0.1:8000/healthz")
    assert checks["nlu"].endswith("deploy/healthcheck.py http://127.0.0.1:8002/healthz")
    assert "--port 8002" in command_text(services["nlu"])
    assert checks["proxy"].endswith("http://127.0.0.1/proxy-healthz")
    assert (REPO / "deploy" / "healthcheck.py").is_file()


@pytest.mark.parametrize("path", ["/healthz"])
def test_the_web_health_path_is_a_url_of_the_platform(path: str) -> None:
    try:
        match = resolve(path)
    except Resolver404:  # pragma: no cover - the assertion below explains
        pytest.fail(f"{path} is not a URL of chatplatform/urls.py")
    assert match.url_name == "healthz"


def test_worker_runs_the_threads_pool_with_200_threads(config: dict) -> None:
    command = config["services"]["worker"]["command"]
    assert command[command.index("--pool") + 1] == "threads"
    assert command[command.index("--concurrency") + 1] in ("${WORKER_CONCURRENCY:-200}", "200")


def test_https_settings_are_explicit_for_the_plain_http_proxy(config: dict) -> None:
    for name in APP_SERVICES:
        env = config["services"][name]["environment"]
        for variable, plain_http in (
            ("SECURE_SSL_REDIRECT", "false"),
            ("SESSION_COOKIE_SECURE", "false"),
            ("CSRF_COOKIE_SECURE", "false"),
            ("SECURE_HSTS_SECONDS", "0"),
        ):
            assert variable in env, f"{name}: {variable} must be set (the platform defaults it on)"
            assert env[variable] in (plain_http, f"${{{variable}:-{plain_http}}}"), (name, variable, env[variable])


def test_every_app_process_has_its_own_prometheus_directory(config: dict) -> None:
    for name in APP_SERVICES:
        service = config["services"][name]
        directory = service["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert directory in service["tmpfs"], f"{name}: {directory} must be a tmpfs of its own container"


def test_web_calls_the_nlu_service_and_every_backend(config: dict) -> None:
    services = config["services"]
    web = services["web"]["environment"]
    assert web["NLU_SERVICE_URL"] == "http://nlu:8002"
    assert "http://vllm:8000/v1" in web["VLLM_BASE_URLS"]
    assert web["VLLM_BASE_URL"] == "http://vllm:8000/v1"
    assert "@postgres:5432/" in web["DATABASE_URL"]
    assert web["REDIS_URL"].startswith("redis://redis:6379")
    assert services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    # The CPU profile's server answers under the same name.
    assert "vllm" in services["vllm-cpu"]["networks"]["backend"]["aliases"]


def test_app_services_start_after_migrations(config: dict) -> None:
    services = config["services"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "nlu"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_every_app_variable_is_read_by_settings_or_named(config: dict) -> None:
    known = settings_variables() | NON_SETTINGS_VARIABLES
    for name in APP_SERVICES:
        unknown = set(config["services"][name]["environment"]) - known
        assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"


def test_docker_compose_interpolates_overrides() -> None:
    """The documented knobs reach the services: TLS at the proxy, scaled workers, another subnet."""
    rendered = rendered_config(
        env={
            "PROXY_CONFIG": "nginx-tls.conf",
            "SECURE_SSL_REDIRECT": "true",
            "WORKER_CONCURRENCY": "300",
            "EDGE_SUBNET": "10.99.0.0/24",
            "PROXY_PORT": "80",
            "PROXY_TLS_PORT": "443",
        }
    )
    services = rendered["services"]
    assert "/etc/nginx/chatplatform/nginx-tls.conf" in command_text(services["proxy"])
    assert {(p["published"], p["target"]) for p in services["proxy"]["ports"]} == {(80, 80), (443, 443)}
    assert services["web"]["environment"]["SECURE_SSL_REDIRECT"] == "true"
    assert "--concurrency 300" in command_text(services["worker"])
    assert services["web"]["environment"]["TRUSTED_PROXIES"] == "10.99.0.0/24"
    assert "--forwarded-allow-ips 10.99.0.0/24" in command_text(services["web"])


def test_docker_compose_refuses_to_render_without_a_secret_key() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run(
        [tool, "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_docker_compose_renders_the_cpu_profile() -> None:
    services = rendered_config(profile="cpu")["services"]
    assert services["vllm-cpu"]["build"]["target"] == "vllm-cpu"
    assert "FROM python:3.11-slim AS vllm-cpu" in (REPO / "Dockerfile").read_text()
