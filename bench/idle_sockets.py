"""P4 (issue #11): how many idle chat WebSockets ONE ASGI web process holds before it degrades, and
its resident memory per idle socket.

Starts its own embedded PostgreSQL and Redis (or uses DATABASE_URL / REDIS_URL) and ONE uvicorn
process with the platform's ASGI app (the same command as `make run`), then opens chat sockets in
steps from one asyncio client process over loopback: each socket connects with an allowed Origin,
sends `hello`, waits for `welcome` and then stays idle (only the client library's keep-alive pings).
After each step it measures the web process's RSS (psutil) and the hello latency of a probe client
(fresh socket: connect + hello -> welcome, one at a time). It stops at the first failed socket or
probe, or when the probe's p99 exceeds 1 s, or after the last step.

All sockets come from 127.0.0.1, so the per-IP hello and new-conversation limits are raised for this
web process (in production the visitors come from many addresses). The soft RLIMIT_NOFILE is raised
to the hard limit (the web process inherits it): each socket is one descriptor on each side.

Usage: .venv/bin/python bench/idle_sockets.py [--steps 500 1000 2000 3000 4000] [--probes 50]
       `--smoke`: steps 20 50, nothing written.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import psutil
import websockets
from common import (
    REPO,
    ChildProcesses,
    machine_description,
    percentile,
    setup_django_with_own_database,
    stop_own_redis,
    table,
    web_argv,
    write_section,
)
from websockets.typing import Origin

# One client address opens every socket: the abuse limits would stop the benchmark, not the server.
WEB_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "LOG_LEVEL": "WARNING",
    "CHAT_HELLOS_PER_MINUTE_PER_IP": "1000000",
    "CHAT_CONVERSATIONS_PER_MINUTE_PER_IP": "1000000",
    "CHAT_FRAMES_PER_MINUTE": "1000000",
}

JSON_OUT = REPO / "docs" / "bench" / "idle_sockets.json"
ORIGIN = "https://shop.example.com"
HELLO_P99_LIMIT_S = 1.0


def raise_fd_limit() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


async def open_socket(url: str, version: int) -> tuple[Any, float]:
    """A socket after its welcome, and the seconds from connect to welcome."""
    started = time.perf_counter()
    ws = await websockets.connect(url, origin=Origin(ORIGIN), open_timeout=30, max_size=2**20)
    await ws.send(json.dumps({"type": "hello", "v": version}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
        if frame["type"] == "welcome":
            return ws, time.perf_counter() - started
        if frame["type"] == "error":
            await ws.close()
            raise RuntimeError(f"hello refused: {frame}")


async def probe(url: str, version: int, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        ws, seconds = await open_socket(url, version)
        latencies.append(seconds)
        await ws.close()
    return latencies


def rss(process: psutil.Process) -> int:
    return int(process.memory_info().rss)


async def run(
    url: str, web: psutil.Process, *, steps: list[int], probes: int, version: int, parallel: int
) -> list[dict[str, Any]]:
    sockets: list[Any] = []
    await probe(url, version, 5)  # warm-up: imports, first DB connections, channel layer
    await asyncio.sleep(1)
    base_rss = rss(web)
    results: list[dict[str, Any]] = [{"sockets": 0, "rss": base_rss, "probe": await probe(url, version, probes)}]
    semaphore = asyncio.Semaphore(parallel)

    async def one() -> tuple[Any, float]:
        async with semaphore:
            return await open_socket(url, version)

    for target in steps:
        started = time.perf_counter()
        opened = await asyncio.gather(*(one() for _ in range(target - len(sockets))), return_exceptions=True)
        failures = [o for o in opened if isinstance(o, BaseException)]
        good = [o for o in opened if not isinstance(o, BaseException)]
        sockets += [ws for ws, _ in good]
        open_s = time.perf_counter() - started
        await asyncio.sleep(3)  # idle: let the server settle
        step: dict[str, Any] = {
            "sockets": len(sockets),
            "failures": len(failures),
            "first_failure": repr(failures[0])[:300] if failures else "",
            "open_seconds": open_s,
            "hello_while_opening": [s for _, s in good],
            "rss": rss(web),
            "web_fds": web.num_fds(),
        }
        try:
            step["probe"] = await probe(url, version, probes)
        except Exception as exc:
            step["probe"], step["probe_error"] = [], repr(exc)[:300]
        alive = sum(1 for ws in sockets if ws.state.name == "OPEN")
        step["alive_after_probe"] = alive
        results.append(step)
        p99 = percentile(step["probe"], 0.99) if step["probe"] else float("inf")
        print(
            f"  {len(sockets)} sockets ({len(failures)} failed, {alive} open): RSS {step['rss'] / 2**20:.0f} MiB, "
            f"probe hello p99 {p99 * 1000:.0f} ms",
            flush=True,
        )
        if failures or "probe_error" in step or alive < len(sockets) or p99 > HELLO_P99_LIMIT_S:
            break
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[500, 1000, 2000, 3000, 4000])
    parser.add_argument("--probes", type=int, default=50, help="probe hellos per step")
    parser.add_argument("--parallel", type=int, default=50, help="sockets opening at once")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", default=str(JSON_OUT))
    args = parser.parse_args()
    if args.smoke:
        args.steps, args.probes, args.no_write = [20, 50], 5, True
    soft, hard = raise_fd_limit()
    server = setup_django_with_own_database(prefix="bench-idle-")
    from bots.models import Bot
    from chatplatform.launcher.embedded import free_port
    from conversations import frames

    version = max(frames.SUPPORTED_VERSIONS)
    bot, _ = Bot.objects.update_or_create(
        slug="bench-idle", defaults={"name": "Idle sockets", "allowed_origins": [ORIGIN]}
    )
    port = free_port()
    children = ChildProcesses(Path(tempfile.mkdtemp(prefix="bench-idle-")), WEB_ENV)
    machine = machine_description()
    print(
        f"machine: {machine}; fd limit {soft}/{hard}; websockets {websockets.__version__}; hello v{version}", flush=True
    )
    print(
        f"parameters: steps {args.steps}, {args.probes} probe hellos per step, {args.parallel} opening at once",
        flush=True,
    )
    web_process = children.start("web", web_argv(port))
    try:
        children.wait_for_port("web", port)
        web = psutil.Process(web_process.pid)
        url = f"ws://127.0.0.1:{port}/ws/chat/{bot.public_key}/"
        gc.collect()
        results = asyncio.run(
            run(url, web, steps=args.steps, probes=args.probes, version=version, parallel=args.parallel)
        )
    finally:
        children.stop()
        stop_own_redis()
        if server is not None:
            cast(Any, server).cleanup()
    base = results[0]["rss"]
    rows = []
    for step in results:
        n = step["sockets"]
        probe_ms = [s * 1000 for s in step["probe"]]
        rows.append(
            [
                n,
                step.get("failures", 0),
                f"{step['rss'] / 2**20:.0f}",
                f"{(step['rss'] - base) / n / 1024:.0f}" if n else "",
                f"{percentile(probe_ms, 0.5):.0f}" if probe_ms else "failed",
                f"{percentile(probe_ms, 0.99):.0f}" if probe_ms else "failed",
                f"{percentile([s * 1000 for s in step.get('hello_while_opening', [])], 0.99):.0f}" if n else "",
                step.get("web_fds", ""),
            ]
        )
    headers = [
        "idle sockets",
        "failed",
        "web RSS MiB",
        "KiB per socket",
        "probe hello p50 ms",
        "probe hello p99 ms",
        "hello p99 while opening ms",
        "web fds",
    ]
    result_table = table(headers, rows)
    print(result_table)
    if args.no_write:
        return
    last_ok = max(
        (
            s["sockets"]
            for s in results
            if not s.get("failures") and s["probe"] and percentile(s["probe"], 0.99) <= HELLO_P99_LIMIT_S
        ),
        default=0,
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps({"machine": machine, "fd_limit": [soft, hard], "args": vars(args), "steps": results}, indent=2)
    )
    write_section(
        "P4: idle WebSockets on one web process",
        f"""
`python bench/idle_sockets.py --steps {" ".join(map(str, args.steps))} --probes {args.probes}` ({machine}),
measured {time.strftime("%Y-%m-%d %H:%M %Z")}. Raw numbers: `docs/bench/idle_sockets.json`.

One uvicorn process with the platform's ASGI app (its own embedded PostgreSQL and Redis), one
asyncio client over loopback: every socket sends `hello` (v{version}), gets `welcome` and stays idle.
RSS of the web process after each step; "KiB per socket" = (RSS - RSS with no idle socket) / sockets.
Probe: {args.probes} fresh sockets one at a time (connect + hello -> welcome) while the idle ones stay
open. Stops at the first failure or when the probe's p99 exceeds 1 s. fd limit raised to {soft}
(the hard limit). Largest step with no failure and probe p99 <= 1 s: **{last_ok}** sockets
(target >= 2,000, <= 100 KB each).

{result_table}
""",
    )


if __name__ == "__main__":
    main()
