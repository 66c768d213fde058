"""The P3/P4/P6 benchmarks of issue #11 still run (short smoke versions). They print tables; nothing
here asserts on time. P3 and P6 need the real vLLM engine (the session's `real_vllm_url`); P3 runs
without the platform (`--direct-only`), which checks the `vllm bench serve` invocation and the own
TTFT client. P4 starts its own embedded PostgreSQL, Redis and web process."""

from __future__ import annotations

import pytest

from tests.bench.test_bench_smoke import REPO, run_bench

pytestmark = pytest.mark.slow


def table_rows(out: str, header_word: str) -> list[list[str]]:
    """The data rows of the printed table whose header contains `header_word`."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and header_word in line)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.mark.vllm
def test_vllm_serve_smoke_direct(real_vllm_url: str) -> None:
    tokenizer = REPO / "var" / "models" / "smollm2-135m-instruct"
    out = run_bench(
        "bench/vllm_serve.py", "--smoke", "--direct-only", "--vllm-url", real_vllm_url, "--tokenizer", str(tokenizer)
    )
    bench = table_rows(out, "out tok/s direct")
    assert len(bench) == 1 and bench[0][0] == "1" and float(bench[0][2]) > 0  # tokens came back
    ttft = table_rows(out, "exact prompt")
    assert len(ttft) == 1 and float(ttft[0][2]) > 0


@pytest.mark.vllm
def test_prefix_cache_smoke(real_vllm_url: str) -> None:
    out = run_bench("bench/prefix_cache.py", "--smoke", "--vllm-url", real_vllm_url)
    rows = table_rows(out, "hit rate from turn 3")
    assert [r[0] for r in rows] == ["ours (build_prompt)", "prefix changes each turn"]
    assert all(r[-2].endswith("%") for r in rows)


def test_idle_sockets_smoke() -> None:
    out = run_bench("bench/idle_sockets.py", "--smoke")
    rows = table_rows(out, "idle sockets")
    assert [r[0] for r in rows][:2] == ["0", "20"]
    assert all(r[1] == "0" for r in rows)  # every idle socket got its welcome
