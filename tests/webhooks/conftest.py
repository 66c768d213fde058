"""Helpers for the webhook tests: a real HTTP receiver on 127.0.0.1, endpoints with known
secrets, and a record of the attempt tasks the services send (run by hand, no broker)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from webhooks.models import WebhookEndpoint
from webhooks.services import delivery
from webhooks.services.endpoints import endpoint_create


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body)
        return result


@dataclass
class Receiver:
    """Answers each POST with the next status of `statuses` (then 200) and keeps what it got."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    settings.OUTBOUND_ALLOW_PRIVATE = ["127.0.0.1"]
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with state.lock:
                state.received.append(Received(headers={k.lower(): v for k, v in self.headers.items()}, body=body))
                status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"boom")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def attempts_sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(delivery id, attempt) of every attempt task the services sent, instead of the broker."""
    sent: list[tuple[int, int]] = []

    def record(name: str, *args: Any, countdown: float | None = None) -> None:
        assert name == delivery.ATTEMPT_TASK
        sent.append((int(args[0]), int(args[1])))

    monkeypatch.setattr(delivery, "task_send", record)
    return sent


def run_sent(sent: list[tuple[int, int]], capture: Any = None) -> None:
    """Run the recorded attempt tasks like a worker would, in order, emptying the record. With
    `capture` (django_capture_on_commit_callbacks) the attempts they send in turn run too."""
    while sent:
        batch = list(sent)
        sent.clear()
        if capture is None:
            for delivery_id, attempt in batch:
                delivery.delivery_attempt(delivery_id=delivery_id, attempt=attempt)
            continue
        with capture(execute=True):
            for delivery_id, attempt in batch:
                delivery.delivery_attempt(delivery_id=delivery_id, attempt=attempt)


def endpoint_with_secret(
    *, url: str, bot: Any = None, event_types: list[str] | None = None
) -> tuple[WebhookEndpoint, str]:
    return endpoint_create(url=url, bot_id=bot.pk if bot is not None else None, event_types=event_types or [])
