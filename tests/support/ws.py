"""Helpers for driving the chat consumer through Channels' WebsocketCommunicator."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from channels.testing import WebsocketCommunicator

from chatplatform.asgi import application


async def connect(public_key: str, origin: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/chat/{public_key}/", headers=[(b"origin", origin.encode())])
    connected, _ = await communicator.connect(timeout=10)
    assert connected, "handshake refused"
    return communicator


async def hello(communicator: WebsocketCommunicator, **fields: Any) -> dict[str, Any]:
    await communicator.send_json_to({"type": "hello", "v": 1, **fields})
    return await expect(communicator, "welcome")


async def expect(communicator: WebsocketCommunicator, frame_type: str, timeout: float = 10) -> dict[str, Any]:
    """Next frame of the given type (frames of other types in between are skipped)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no {frame_type!r} frame within {timeout} s"
        frame = await communicator.receive_json_from(timeout=remaining)
        if frame["type"] == frame_type:
            return frame


async def collect_reply(
    communicator: WebsocketCommunicator, timeout: float = 30
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Deltas until the bot's final message frame; returns (deltas, final)."""
    deltas: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"no final bot message within {timeout} s (got {len(deltas)} deltas)"
        frame = await communicator.receive_json_from(timeout=remaining)
        if frame["type"] == "delta":
            deltas.append(frame)
        elif frame["type"] == "message" and frame["role"] == "bot":
            return deltas, frame
        elif frame["type"] == "error":
            raise AssertionError(f"error frame while waiting for a reply: {frame}")


def new_client_id() -> str:
    return uuid.uuid4().hex
