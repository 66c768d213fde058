"""Requests with bytes that are not UTF-8 (or not even text) in the request get a clean 4xx from the
real server (uvicorn + the ASGI app), and no traceback lands in the server log."""

from __future__ import annotations

import socket
import time

import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WS_HANDSHAKE = (
    b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
)
BAD = [b"caf\xe9", b"\xff\xfe", b"\xc3\x28"]


def _status(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1])


def _http(path: bytes, headers: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\n" + headers + b"Connection: close\r\n\r\n"


def _ws(path: bytes, headers: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\n" + headers + WS_HANDSHAKE + b"\r\n"


def test_bad_bytes_in_headers_get_a_clean_4xx_and_no_traceback(live_asgi_server, llm_bot) -> None:
    port, key = live_asgi_server.port, llm_bot.public_key.encode()
    log_start = live_asgi_server.log.stat().st_size
    host = b"Host: 127.0.0.1\r\n"
    expected: list[tuple[bytes, set[int]]] = []
    for bad in BAD:
        # A Host that is not a host name: Django's DisallowedHost (was: 400 plus a traceback).
        for path in (b"/", b"/admin/login/", b"/healthz", b"/api/v1/widget/" + key + b"/config"):
            expected.append((_http(path, b"Host: " + bad + b"\r\n"), {400}))
        # Junk in the other headers: served or refused as usual, never a 5xx.
        for header in (
            b"Origin: https://",
            b"Cookie: sessionid=",
            b"Cookie: ",
            b"Authorization: Bearer ",
            b"Authorization: Token ",
            b"User-Agent: ",
            b"X-Request-Id: ",
            b"Accept-Language: ",
            b"X-Forwarded-For: ",
            b"Referer: https://",
        ):
            for path in (b"/", b"/admin/login/", b"/api/v1/bots/", b"/v1/models"):
                expected.append((_http(path, host + header + bad + b"\r\n"), {200, 302, 401, 403}))
            # WebSocket handshakes: to the widget's socket, the console, and to paths no consumer
            # serves (was: channels' "No route found" ValueError, a 500 and a traceback).
            for path in (
                b"/ws/chat/" + key + b"/",
                b"/ws/console/1/",
                b"/ws/console/%ff/",
                b"/ws/nothing/",
                b"/ws/chat/%ff%fe/",
            ):
                expected.append((_ws(path, host + header + bad + b"\r\n"), {101, 403}))
        expected.append((_ws(b"/ws/nothing/", b"Host: " + bad + b"\r\nOrigin: https://shop.example.com\r\n"), {403}))
    failures = []
    for request, allowed in expected:
        status = _status(port, request)
        if status not in allowed:
            failures.append((request[:120], status))
    time.sleep(0.5)  # let the server flush its log
    with live_asgi_server.log.open("rb") as log:
        log.seek(log_start)
        server_log = log.read().decode("utf-8", "replace")
    assert failures == []
    assert "Traceback" not in server_log, server_log[-4000:]
    assert "Exception in ASGI application" not in server_log
