"""bench/parse_api.py (P7) still runs: a short smoke version that prints its table. No timing asserts."""

from __future__ import annotations

import pytest

from tests.bench.test_bench_smoke import run_bench

pytestmark = pytest.mark.slow


def test_parse_api_smoke() -> None:
    out = run_bench("bench/parse_api.py", "--smoke")
    for path in ("in-process", "NLU service direct", "parse API -> NLU service", "parse API -> Celery round trip"):
        assert path in out, out[-2000:]
    assert "p50 ms" in out and "P7 target" in out
