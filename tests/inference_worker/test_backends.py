"""Several backends (two real stub HTTP servers on loopback): affinity, failover before the first
token, recovery, no retry storm, fail fast when every backend is down."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx2
import openai
import pytest

from engine.types import ChatMessage, CompletionRequest
from inference_worker.backends import BackendPool, rendezvous_weight
from inference_worker.client import LLMClient, LLMClientConfig
from inference_worker.errors import LLMUnavailable
from tests.inference_worker.stub_backends import RestartableStub

KEYS = [f"conversation-{i}" for i in range(50)]


@pytest.fixture
def stubs() -> Iterator[tuple[RestartableStub, RestartableStub]]:
    a, b = RestartableStub("Reply from A."), RestartableStub("Reply from B.")
    yield a, b
    for stub in (a, b):
        if stub._server is not None:
            stub.kill()


def make_client(stubs: tuple[RestartableStub, RestartableStub], **overrides: float) -> LLMClient:
    urls = tuple(s.base_url for s in stubs)
    options = {"read_timeout": 5.0, "total_timeout": 15.0, "connect_timeout": 3.0, **overrides}
    return LLMClient(LLMClientConfig(base_url=urls[0], base_urls=urls, model="stub-model", **options))


def complete(client: LLMClient, key: str) -> tuple[str, str]:
    request = CompletionRequest(
        messages=[ChatMessage(role="user", content="hello")], max_tokens=32, temperature=0.0, affinity_key=key
    )
    result = client.stream(request)
    text = "".join(chunk.text for chunk in result)
    assert result.usage is not None and result.usage.completion_tokens > 0
    return text, result.backend


def test_one_key_keeps_its_backend_and_keys_spread_over_both(stubs) -> None:
    a, b = stubs
    client = make_client(stubs)
    try:
        homes: dict[str, set[str]] = {key: set() for key in KEYS}
        for _ in range(4):
            for key in KEYS:
                text, backend = complete(client, key)
                assert text == {a.base_url: a.reply, b.base_url: b.reply}[backend]
                homes[key].add(backend)
    finally:
        client.close()
    assert all(len(backends) == 1 for backends in homes.values())
    spread = Counter(next(iter(backends)) for backends in homes.values())
    # Binomial(50, 1/2): fewer than 10 keys on one side happens about once in 100,000 port pairs.
    assert spread[a.base_url] >= 10 and spread[b.base_url] >= 10
    # Each server saw exactly its own keys' requests.
    assert a.posts == 4 * spread[a.base_url] and b.posts == 4 * spread[b.base_url]


def test_rendezvous_moves_only_the_keys_of_a_removed_backend() -> None:
    urls = ["http://10.0.0.1/v1", "http://10.0.0.2/v1", "http://10.0.0.3/v1"]
    keys = [f"k{i}" for i in range(300)]

    def home(key: str, among: list[str]) -> str:
        return max(among, key=lambda u: rendezvous_weight(key, u))

    before = {k: home(k, urls) for k in keys}
    after = {k: home(k, urls[:2]) for k in keys}
    moved = {k for k in keys if before[k] != after[k]}
    assert moved == {k for k in keys if before[k] == urls[2]}
    assert all(80 <= n <= 120 for n in Counter(before.values()).values())


def test_killed_backend_its_keys_fail_over_without_error_then_return_after_recovery(stubs) -> None:
    a, b = stubs
    client = make_client(stubs, cooldown_base=0.2, cooldown_cap=0.4)
    try:
        home = {key: complete(client, key)[1] for key in KEYS}
        a_keys = [k for k in KEYS if home[k] == a.base_url]
        assert a_keys
        a.kill()  # dies between requests: nothing was streaming from it
        for key in a_keys:
            text, backend = complete(client, key)  # raises on any error
            assert (text, backend) == (b.reply, b.base_url)
        for key in KEYS:
            if home[key] == b.base_url:
                assert complete(client, key)[1] == b.base_url  # the others never moved

        a.start()  # back on the same port
        deadline = time.monotonic() + 10
        while complete(client, a_keys[0])[1] != a.base_url:  # after its cool-down, a probe lets it back in
            assert time.monotonic() < deadline, "backend A never came back"
            time.sleep(0.05)
        assert a.probes >= 1
        assert {complete(client, key)[1] for key in a_keys} == {a.base_url}
    finally:
        client.close()


@pytest.mark.parametrize("threads", [1, 16])
def test_a_failing_backend_gets_a_bounded_number_of_requests(stubs, threads: int) -> None:
    a, b = stubs
    a.behaviour.fail_times = 10**9  # alive but answering 500 to every completion
    client = make_client(stubs, cooldown_base=30.0, cooldown_cap=30.0)  # no probe during the test
    try:
        keys = [f"storm-{i}" for i in range(200)]
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(lambda k: complete(client, k), keys))
    finally:
        client.close()
    a_keys = [k for k in keys if rendezvous_weight(k, a.base_url) > rendezvous_weight(k, b.base_url)]
    assert len(a_keys) >= 50
    assert all(result == (b.reply, b.base_url) for result in results)  # every request succeeded on B
    # Only the requests already in flight when A was marked down reached it; none after.
    assert 1 <= a.posts <= threads
    assert b.posts == len(keys)


def test_every_backend_down_fails_fast_without_calling_them(stubs) -> None:
    a, b = stubs
    for stub in stubs:
        stub.behaviour.fail_times = 10**9
    client = make_client(stubs, cooldown_base=30.0, cooldown_cap=30.0)
    try:
        with pytest.raises(LLMUnavailable):
            complete(client, "first")
        assert (a.posts, b.posts) == (1, 1)  # failed over once, then nowhere left to go
        for i in range(20):
            with pytest.raises(LLMUnavailable, match="every LLM backend is down"):
                complete(client, f"later-{i}")
        assert (a.posts, b.posts) == (1, 1)
        assert a.probes == b.probes == 0
    finally:
        client.close()


def test_without_a_key_requests_go_round_robin(stubs) -> None:
    a, b = stubs
    client = make_client(stubs)
    try:
        served = Counter(complete(client, "")[1] for _ in range(20))
    finally:
        client.close()
    assert served == {a.base_url: 10, b.base_url: 10}


def test_pool_probe_failure_keeps_backend_down_and_lengthens_cooldown() -> None:
    now = [100.0]
    probes: list[str] = []

    class FakeSDK:
        def __init__(self, url: str) -> None:
            self.url = url

        def with_options(self, **_: object) -> FakeSDK:
            return self

        @property
        def models(self) -> FakeSDK:
            return self

        def list(self) -> None:
            probes.append(self.url)
            if healthy.get(self.url) is False:
                raise openai.APIConnectionError(request=httpx2.Request("GET", self.url))

    class FakeHTTP:
        def close(self) -> None:
            pass

    healthy: dict[str, bool] = {"u1": False}
    pool = BackendPool(
        ["u1"],
        make_client=lambda url: (FakeSDK(url), FakeHTTP()),
        cooldown_base=1.0,
        cooldown_cap=8.0,
        clock=lambda: now[0],
    )
    backend = pool.acquire("k")
    assert backend is not None and probes == []
    pool.release(backend, "failed")
    assert pool.acquire("k") is None and probes == []  # cooling down: not even probed
    now[0] += 1.3
    assert pool.acquire("k") is None and probes == ["u1"]  # probed, still sick
    first_cooldown_end = pool.backends[0].down_until
    assert first_cooldown_end - now[0] >= 1.6  # doubled (x0.8-1.2 jitter)
    now[0] = first_cooldown_end + 0.01
    healthy["u1"] = True
    backend = pool.acquire("k")
    assert backend is not None and probes == ["u1", "u1"]
    pool.release(backend, "ok")
    assert pool.backends[0].failures == 0 and pool.backends[0].is_up
