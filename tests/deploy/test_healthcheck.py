"""deploy/healthcheck.py, the web and nlu containers' health check: it asks the way the proxy does
(a Host the platform accepts, X-Forwarded-Proto: https), so host validation and SECURE_SSL_REDIRECT
do not fail a healthy process, and it reports 503 and redirects as unhealthy."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.test import Client

from chatplatform import health

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "healthcheck.py"
_spec = importlib.util.spec_from_file_location("deploy_healthcheck", SCRIPT)
assert _spec is not None and _spec.loader is not None
healthcheck = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(healthcheck)


class Recorder(BaseHTTPRequestHandler):
    status = 200
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        self.send_response(type(self).status)
        if type(self).status == 301:
            self.send_header("Location", "https://chat.example.com/healthz")
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("Handler", (Recorder,), {"seen": [], "status": 200})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/healthz", handler
    httpd.shutdown()
    httpd.server_close()


def run(url: str, allowed_hosts: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), url],
        capture_output=True,
        text=True,
        env={"ALLOWED_HOSTS": allowed_hosts, "HEALTHCHECK_TIMEOUT": "5"},
        timeout=30,
    )


def test_healthy_answer_exits_zero_and_sends_the_proxy_headers(server: tuple[str, type[Recorder]]) -> None:
    url, handler = server
    result = run(url, ".example.com,chat.example.com")
    assert result.returncode == 0, result.stdout + result.stderr
    assert handler.seen[0]["Host"] == "example.com"
    assert handler.seen[0]["X-Forwarded-Proto"] == "https"


@pytest.mark.parametrize("status", [503, 400, 301])
def test_unhealthy_answers_exit_non_zero(server: tuple[str, type[Recorder]], status: int) -> None:
    url, handler = server
    handler.status = status
    result = run(url, "chat.example.com")
    assert result.returncode == 1
    assert f"HTTP {status}" in result.stdout
    assert len(handler.seen) == 1  # a redirect is reported, not followed


def test_nothing_listening_exits_non_zero() -> None:
    result = run("http://127.0.0.1:9/healthz", "")
    assert result.returncode == 1 and "127.0.0.1:9" in result.stdout


def test_wildcard_hosts_fall_back_to_localhost(server: tuple[str, type[Recorder]]) -> None:
    url, handler = server
    assert run(url, "*").returncode == 0
    assert handler.seen[0]["Host"] == "localhost"


@pytest.mark.django_db
def test_the_platform_answers_the_check_behind_ssl_redirect_and_host_validation(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With production settings, the check's request reaches /healthz; a bare one does not."""
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    monkeypatch.setattr(health, "CHECKS", {"database": lambda: "ok"})
    client = Client()
    assert client.get("/healthz", headers={"host": "chat.example.com"}).status_code == 301
    assert client.get("/healthz", headers={"host": "127.0.0.1", "x-forwarded-proto": "https"}).status_code == 400
    host = healthcheck.host_header(",".join(settings.ALLOWED_HOSTS))
    response = client.get("/healthz", headers={"host": host, "x-forwarded-proto": "https"})
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": {"status": "ok"}}
