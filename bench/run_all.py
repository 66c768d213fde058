"""`make bench`: every benchmark, one after the other; each prints its table and updates docs/benchmarks.md.

The chat-latency, vLLM-serve (P3) and prefix-cache (P6) benchmarks need the platform running
(`make run` in another terminal); the NLU, analytics and idle-socket (P4) benchmarks start their own
embedded PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def run(script: str, *args: str) -> int:
    print(f"\n=== {script} {' '.join(args)}", flush=True)
    return subprocess.call([sys.executable, str(BENCH / script), *args], cwd=REPO)


def main() -> int:
    failures = 0
    if (REPO / "var" / "run.env").exists():
        failures += run("chat_latency.py") != 0
        failures += run("vllm_serve.py") != 0
        failures += run("prefix_cache.py") != 0
    else:
        print(
            "\n=== chat_latency.py, vllm_serve.py, prefix_cache.py skipped: start `make run` in another "
            "terminal to include them",
            flush=True,
        )
    failures += run("turn_engine.py") != 0
    failures += run("spec_cache.py") != 0
    failures += run("worker_streams.py") != 0
    failures += run("parse_api.py") != 0
    failures += run("idle_sockets.py") != 0
    failures += run("soak.py") != 0
    failures += run("inbox_updates.py") != 0
    failures += run("nlu_clinc150.py") != 0
    failures += run("nlu_small_zh.py") != 0
    failures += run("analytics_scale.py") != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
