"""Channel-layer publishing from worker threads: per-conversation order, isolation, fault tolerance.

A fake channel layer stands in for Redis so delays and failures can be injected; it is swapped in
where the publisher looks the layer up (`get_channel_layer`), the same seam the old code had.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis.exceptions import MaxConnectionsError

from inference_worker import publisher
from inference_worker.publisher import ChannelLayerEvents

MakeEvents = Callable[["FakeLayer"], ChannelLayerEvents]


class FakeLayer:
    """Records (group, event) pairs as each `group_send` completes, after an injected delay."""

    def __init__(
        self,
        delay: Callable[[str, dict[str, Any]], float] = lambda g, e: 0.0,
        fail: Callable[[str, dict[str, Any]], bool] = lambda g, e: False,
    ) -> None:
        self.delay, self.fail = delay, fail
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.blocked: set[str] = set()  # groups whose sends hang until released
        self._lock = threading.Lock()

    async def group_send(self, group: str, event: dict[str, Any]) -> None:
        await asyncio.sleep(self.delay(group, event))
        while group in self.blocked:
            await asyncio.sleep(0.005)
        if self.fail(group, event):
            raise ConnectionError("redis went away")
        with self._lock:
            self.sent.append((group, event))

    def frames(self, group: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e["frame"] for g, e in self.sent if g == group]


def _offsets(layer: FakeLayer, conversation_id: int) -> list[int]:
    return [f["offset"] for f in layer.frames(f"conversation.{conversation_id}") if f["type"] == "delta"]


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.fixture
def make_events(monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeEvents]:
    created: list[ChannelLayerEvents] = []

    def make(layer: FakeLayer) -> ChannelLayerEvents:
        monkeypatch.setattr(publisher, "get_channel_layer", lambda: layer)
        events = ChannelLayerEvents()
        created.append(events)
        return events

    yield make
    for events in created:
        if hasattr(events, "close"):
            events.close()


def test_deltas_of_one_turn_arrive_strictly_in_order(make_events: MakeEvents) -> None:
    # Random per-send latency (as Redis round trips have) would reorder independent sends.
    rng = random.Random(9)
    delays = [rng.uniform(0, 0.003) for _ in range(200)]
    layer = FakeLayer(delay=lambda g, e: delays[e["frame"]["offset"]] if e["frame"]["type"] == "delta" else 0.002)
    events = make_events(layer)

    events.typing(conversation_id=1, on=True)
    for offset in range(200):
        events.delta(conversation_id=1, reply_to=7, offset=offset, text="x")
    events.error(conversation_id=1, code="llm_unavailable", detail="late", reply_to=7)

    # The final event waited: when error() returns, everything before it has been sent.
    frames = layer.frames("conversation.1")
    assert len(frames) == 202
    assert frames[0]["type"] == "typing" and frames[-1]["type"] == "error"
    offsets = _offsets(layer, 1)
    assert offsets == sorted(offsets) and len(set(offsets)) == 200  # strictly increasing


def test_decreasing_delays_cannot_overtake(make_events: MakeEvents) -> None:
    layer = FakeLayer(delay=lambda g, e: (50 - e["frame"].get("offset", 0)) * 0.0004)
    events = make_events(layer)
    for offset in range(50):
        events.delta(conversation_id=2, reply_to=1, offset=offset, text="y")
    _wait_until(lambda: len(_offsets(layer, 2)) == 50)
    assert _offsets(layer, 2) == list(range(50))


def test_delta_does_not_block_the_worker_thread(make_events: MakeEvents) -> None:
    layer = FakeLayer(delay=lambda g, e: 0.05)
    events = make_events(layer)
    started = time.monotonic()
    for offset in range(20):
        events.delta(conversation_id=3, reply_to=1, offset=offset, text="z")
    assert time.monotonic() - started < 0.5  # 20 sends x 50 ms would be 1 s if each call waited
    _wait_until(lambda: len(_offsets(layer, 3)) == 20)
    assert _offsets(layer, 3) == list(range(20))


def test_conversations_do_not_block_each_other(make_events: MakeEvents) -> None:
    layer = FakeLayer()
    layer.blocked.add("conversation.10")  # this conversation's Redis sends hang
    events = make_events(layer)
    for offset in range(5):
        events.delta(conversation_id=10, reply_to=1, offset=offset, text="a")
    for offset in range(5):
        events.delta(conversation_id=11, reply_to=2, offset=offset, text="b")
    events.error(conversation_id=11, code="x", detail="y", reply_to=2)  # waits only for conversation 11

    assert _offsets(layer, 11) == list(range(5))
    assert layer.frames("conversation.11")[-1]["type"] == "error"
    assert _offsets(layer, 10) == []
    layer.blocked.clear()
    _wait_until(lambda: len(_offsets(layer, 10)) == 5)
    assert _offsets(layer, 10) == list(range(5))


def test_a_failed_send_is_logged_and_later_sends_still_go_out_in_order(make_events: MakeEvents) -> None:
    rng = random.Random(3)
    layer = FakeLayer(
        delay=lambda g, e: rng.uniform(0, 0.002), fail=lambda g, e: e["frame"].get("offset") in (5, 6, 40)
    )
    events = make_events(layer)
    for offset in range(60):
        events.delta(conversation_id=4, reply_to=1, offset=offset, text="c")
    events.error(conversation_id=4, code="done", detail="", reply_to=1)
    assert _offsets(layer, 4) == [o for o in range(60) if o not in (5, 6, 40)]
    assert layer.frames("conversation.4")[-1]["type"] == "error"


def test_a_failing_final_send_does_not_raise_and_the_next_turn_still_publishes(make_events: MakeEvents) -> None:
    layer = FakeLayer(fail=lambda g, e: e["frame"]["type"] == "error" and e["frame"]["code"] == "boom")
    events = make_events(layer)
    events.error(conversation_id=5, code="boom", detail="", reply_to=1)  # logged, not raised
    events.delta(conversation_id=5, reply_to=2, offset=0, text="next")
    events.error(conversation_id=5, code="ok", detail="", reply_to=2)
    assert [f.get("code", f["type"]) for f in layer.frames("conversation.5")] == ["delta", "ok"]


def test_a_hung_send_times_out_and_stale_deltas_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = FakeLayer()
    layer.blocked.add("conversation.6")
    monkeypatch.setattr(publisher, "get_channel_layer", lambda: layer)
    events = ChannelLayerEvents(send_timeout=0.2, stale_delta=0.1)
    try:
        for offset in range(50):
            events.delta(conversation_id=6, reply_to=1, offset=offset, text="d")
        time.sleep(0.3)  # the first send hangs past its 0.2 s timeout
        layer.blocked.clear()
        # The deltas queued behind it are stale by then and skipped, so the final event goes out
        # promptly instead of after 50 sequential sends of frames nobody needs any more.
        started = time.monotonic()
        events.error(conversation_id=6, code="final", detail="", reply_to=1)
        assert time.monotonic() - started < 1.0
        assert [f["type"] for f in layer.frames("conversation.6")] == ["error"]
    finally:
        events.close()


def test_a_final_send_is_retried_once_a_stale_connection_fails(make_events: MakeEvents) -> None:
    """After a Redis restart the first command on a pooled connection fails; the reply must still
    go out live (the flake the reliability issue names), while a failed delta is not repeated."""
    failures = {"error": 1, "delta": 1}

    def fail_first(group: str, event: dict[str, Any]) -> bool:
        kind = event["frame"]["type"]
        if failures.get(kind, 0) > 0:
            failures[kind] -= 1
            return True
        return False

    layer = FakeLayer(fail=fail_first)
    events = make_events(layer)
    events.delta(conversation_id=6, reply_to=1, offset=0, text="lost")
    events.error(conversation_id=6, code="final", detail="", reply_to=1)
    assert [f.get("code", f["type"]) for f in layer.frames("conversation.6")] == ["final"]


class PooledLayer(FakeLayer):
    """Like channels-redis on redis-py: at most `pool_size` sends at once, the next one fails at once."""

    def __init__(self, *, pool_size: int, send_seconds: float) -> None:
        super().__init__(delay=lambda g, e: send_seconds)
        self.pool_size, self.in_flight, self.peak = pool_size, 0, 0

    async def group_send(self, group: str, event: dict[str, Any]) -> None:
        if self.in_flight >= self.pool_size:
            raise MaxConnectionsError("Too many connections")
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await super().group_send(group, event)
        finally:
            self.in_flight -= 1


def test_many_turns_finishing_at_once_never_exhaust_the_layers_connection_pool(make_events: MakeEvents) -> None:
    # 200 worker threads publish their final frame together (the soak's 200 chats); the pool has 100
    # connections and each send holds one for longer than the retries wait.
    layer = PooledLayer(pool_size=100, send_seconds=0.5)
    events = make_events(layer)
    threads = [
        threading.Thread(target=events.error, kwargs={"conversation_id": n, "code": "x", "detail": "", "reply_to": n})
        for n in range(200)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(len(layer.frames(f"conversation.{n}")) == 1 for n in range(200))
    assert layer.peak <= publisher.MAX_CONCURRENT_SENDS < layer.pool_size
