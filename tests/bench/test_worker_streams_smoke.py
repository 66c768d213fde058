"""The worker-concurrency benchmark still runs (smoke: N=20, 2 s streams). Nothing here asserts on time."""

from __future__ import annotations

import pytest

from tests.bench.test_bench_smoke import run_bench

pytestmark = pytest.mark.slow


def test_worker_streams_smoke() -> None:
    out = run_bench("bench/worker_streams.py", "--smoke")
    assert "CPU s / 1000 chunks" in out and "lag p99 ms" in out
    for option in (
        "threads + sync openai SDK",
        "threads + raw httpx SSE",
        "threads + our LLMClient",
        "asyncio + AsyncOpenAI",
        "gevent + our LLMClient",
    ):
        assert option in out
