"""The SSRF guard of every call to a customer-configured URL (actions, webhooks)."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chatplatform import outbound_http
from chatplatform.outbound_http import OutboundFailed, OutboundRefused, check_destination, host_matches, send


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        return

    def do_GET(self) -> None:
        if self.path.startswith("/redirect"):
            target = self.path.split("to=", 1)[1]
            self.send_response(302)
            self.send_header("Location", target)
            self.end_headers()
            return
        if self.path == "/big":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 5000)
            return
        body = f"host={self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def local_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://10.0.0.8/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://2130706433/",
    ],
)
def test_private_and_loopback_addresses_are_refused(url: str, settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = []
    with pytest.raises(OutboundRefused) as refused:
        check_destination(url)
    assert refused.value.code in ("private_address", "unresolvable")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://x/", "ftp://example.com/", "http://user:pw@x.example/"]
)
def test_other_schemes_and_credentials_are_refused(url: str) -> None:
    with pytest.raises(OutboundRefused):
        check_destination(url)


def test_allowlist_of_hosts(monkeypatch) -> None:
    monkeypatch.setattr(outbound_http, "_resolve", lambda host, port: [ipaddress.ip_address("93.184.215.14")])
    assert check_destination("https://api.shop.example/x", allowed_hosts=["*.shop.example"]).host == "api.shop.example"
    with pytest.raises(OutboundRefused, match="not on this bot's list"):
        check_destination("https://evil.example/x", allowed_hosts=["*.shop.example"])
    assert host_matches("shop.example", ["*.shop.example"]) and not host_matches("evilshop.example", ["*.shop.example"])


def test_allowed_private_host_is_called_with_its_name(local_server: str, settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = ["127.0.0.1"]
    response = send("GET", local_server + "/hello", timeout=5)
    assert response.status_code == 200
    port = local_server.rsplit(":", 1)[1]
    assert response.text() == f"host=127.0.0.1:{port}"


def test_a_redirect_to_a_private_address_is_refused(local_server: str, settings, monkeypatch) -> None:
    # The first hop is allowed (by name); its redirect to the metadata address is checked again.
    settings.OUTBOUND_ALLOW_PRIVATE = ["127.0.0.1"]
    with pytest.raises(OutboundRefused) as refused:
        send("GET", local_server + "/redirect?to=http://169.254.169.254/latest/meta-data/", timeout=5)
    assert refused.value.code == "private_address"


def test_redirects_are_followed_a_bounded_number_of_times(local_server: str, settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = ["127.0.0.1"]
    settings.OUTBOUND_MAX_REDIRECTS = 1
    assert send("GET", local_server + f"/redirect?to={local_server}/ok", timeout=5).status_code == 200
    loop = f"{local_server}/redirect?to={local_server}/redirect?to={local_server}/ok"
    with pytest.raises(OutboundRefused, match="redirects"):
        send("GET", loop, timeout=5)


def test_oversized_answers_are_cut_off(local_server: str, settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = ["127.0.0.1"]
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 1000
    with pytest.raises(OutboundFailed) as failed:
        send("GET", local_server + "/big", timeout=5)
    assert failed.value.code == "response_too_large"


def test_a_closed_port_is_a_connection_failure(settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE = ["127.0.0.1"]
    with pytest.raises(OutboundFailed) as failed:
        send("GET", "http://127.0.0.1:9/", timeout=2)
    assert failed.value.code in ("connection", "timeout")
