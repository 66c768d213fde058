"""Fixtures and helpers for the consumer, service and fault tests (tests/bots).

Every connection opened here gets its own client IP in the ASGI scope: the per-IP rate limit lives
in Redis for the whole session, so a shared "unknown" IP would make unrelated tests throttle each
other.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from chatplatform.asgi import application

_ips = itertools.count(1)


def next_ip() -> str:
    n = next(_ips)
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def communicator_for(public_key: str, origin: str | None, *, client_ip: str | None = None) -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode())] if origin is not None else []
    communicator = WebsocketCommunicator(application, f"/ws/chat/{public_key}/", headers=headers)
    # The application task has not run yet: the scope it will read is this very dict.
    communicator.scope["client"] = [client_ip or next_ip(), 50000]
    return communicator


async def open_ws(public_key: str, origin: str, *, client_ip: str | None = None) -> WebsocketCommunicator:
    communicator = communicator_for(public_key, origin, client_ip=client_ip)
    connected, code = await communicator.connect(timeout=10)
    assert connected, f"handshake refused ({code})"
    return communicator


async def send_raw(communicator: WebsocketCommunicator, text: str) -> None:
    await communicator.send_input({"type": "websocket.receive", "text": text})


async def next_frame(communicator: WebsocketCommunicator, timeout: float = 5) -> dict[str, Any]:
    output = await communicator.receive_output(timeout)
    assert output["type"] == "websocket.send", f"expected a frame, got {output}"
    return json.loads(output["text"])


async def expect_error(communicator: WebsocketCommunicator, code: str, timeout: float = 5) -> dict[str, Any]:
    frame = await next_frame(communicator, timeout)
    assert frame["type"] == "error" and frame["code"] == code, frame
    assert isinstance(frame["detail"], str) and frame["detail"]
    return frame


async def assert_alive(communicator: WebsocketCommunicator) -> None:
    """The same connection still answers: ping -> pong (skipping bot frames in flight)."""
    await communicator.send_json_to({"type": "ping"})
    for _ in range(50):
        frame = await next_frame(communicator)
        if frame["type"] == "pong":
            return
        assert frame["type"] in ("typing", "delta", "message"), frame
    raise AssertionError("no pong")


async def expect_closed(communicator: WebsocketCommunicator, code: int, timeout: float = 5) -> None:
    """Skip remaining frames; the next non-frame output must be a close with `code`."""
    while True:
        output = await communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            assert output.get("code") == code, output
            return
        assert output["type"] == "websocket.send", output


async def wait_for(predicate, timeout: float = 15, interval: float = 0.05):
    """Poll an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


@pytest.fixture
def other_bot(db: None, allowed_origin: str):
    from bots.models import Bot

    return Bot.objects.create(slug="other-bot", name="Other", allowed_origins=[allowed_origin])


@pytest.fixture
def verified_bot(db: None, allowed_origin: str):
    from bots.models import Bot

    return Bot.objects.create(
        slug="verified", name="Verified", allowed_origins=[allowed_origin], require_identity_verification=True
    )


@pytest.fixture
def frozen_rate_window(monkeypatch: pytest.MonkeyPatch) -> float:
    """Pin the clock of the Redis-backed fixed windows: a test that straddled a minute boundary
    would see its counts reset and its limit not reached."""
    import time

    now = time.time()
    monkeypatch.setattr("chatplatform.ratelimit._now", lambda: now, raising=False)
    return now


@pytest.fixture
def dead_cache(settings) -> str:
    """Point the Django cache (rate limits) at a Redis port nothing listens on. The channel layer and
    the broker keep the real Redis: this is the limit check failing, nothing else."""
    from chatplatform.launcher.embedded import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "chatplatform",
        }
    }
    return url
