"""Row 1 of the reliability matrix, bounded for CI: many chats sending a message every 10 s against a
stub LLM whose replies take 1-3 s, on the real stack (web, worker, PostgreSQL, Redis). Asserts what
must hold at any speed: no message lost or stored twice, one reply each, no seq gaps. Memory and ack
latency are measured and printed by the script (docs/benchmarks.md has the 200-chat run), not
asserted: CI asserts no wall time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.test_bench_smoke import run_bench

pytestmark = pytest.mark.slow

CHATS, MINUTES = 60, 1.0


def test_soak_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    printed = run_bench(
        "bench/soak.py", "--chats", str(CHATS), "--minutes", str(MINUTES), "--no-write", "--json", str(out)
    )
    result = json.loads(out.read_text())
    assert result["sent"] >= CHATS * 5, printed  # each chat sent about one message per 10 s
    assert result["lost"] == 0 and result["duplicated"] == 0, printed
    assert result["acked"] == result["answered"] == result["stored"] == result["answered_in_db"] == result["sent"]
    assert result["stored_twice"] == 0 and result["conversations_with_seq_gaps"] == 0
    assert set(result["memory"]) == {"web", "worker"} and all(m["end_mb"] > 0 for m in result["memory"].values())
