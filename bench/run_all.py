"""`make bench`: every benchmark, one after the other; each prints its table and updates docs/benchmarks.md.

The chat-latency benchmark needs the platform running (`make run` in another terminal); the NLU
and analytics benchmarks start their own embedded PostgreSQL.
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
    else:
        print("\n=== chat_latency.py skipped: start `make run` in another terminal to include it", flush=True)
    failures += run("nlu_clinc150.py") != 0
    failures += run("analytics_scale.py") != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
