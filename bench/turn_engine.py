"""What the turn engine adds on top of the model, side by side with the backend in one run (P1, P2,
P5 and P8 of docs/benchmarks.md).

It starts its own stack (embedded PostgreSQL and Redis, one ASGI web process, ONE Celery worker
process on the threads pool) against `bench/stub_openai.py`, a backend with a fixed time to first
token and token rate, in its own process. The demo bot answers, so NLU, dialogue and retrieval run
on every turn (out-of-scope questions go to the LLM).

- P1: client TTFT minus the backend's own TTFT (from the backend's request log), per turn, for
  `--chats` concurrent WebSocket chats (stub: 200 ms TTFT, 20 ms per token).
- P2: streaming rate seen by the client / rate the backend sent, same turns.
- P5: end-to-end turns per second (message in -> reply stored and delivered), instant backend.
- P8: turns streaming at once in the one worker process (10 s streams) and the PostgreSQL
  connections the worker holds meanwhile.

    python bench/turn_engine.py [--chats 100] [--rounds 2] [--p8-turns 500] [--smoke] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from common import (
    REPO,
    ChildProcesses,
    percentile,
    setup_django_with_own_database,
    stop_own_redis,
    table,
    web_argv,
    worker_argv,
    write_section,
)

ORIGIN = "http://bench.invalid"
RESULTS_JSON = REPO / "docs" / "bench" / "turn_engine.json"
QUESTIONS = [
    "Can you recommend a tent for two people hiking in the mountains?",
    "What should I pack for a three-day camping trip in autumn?",
    "How do I keep my sleeping bag dry on a rainy night?",
    "Which stove is best for cooking on a long hike?",
]


@dataclass
class Turn:
    key: str
    sent: float
    acked: float | None = None  # the web process stored the message
    first_delta: float | None = None
    last_delta: float | None = None
    final: float | None = None
    chars: int = 0


class Stack:
    """The platform's processes for this run (stopped at exit)."""

    def __init__(self, *, workdir: Path, worker_concurrency: int) -> None:
        from chatplatform.launcher.embedded import free_port

        self.stub_port, self.web_port = free_port(), free_port()
        self.stub_url = f"http://127.0.0.1:{self.stub_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.worker_concurrency = worker_concurrency
        self.children = ChildProcesses(workdir, self.env())

    def env(self) -> dict[str, str]:
        return {
            "VLLM_BASE_URL": f"{self.stub_url}/v1",
            "VLLM_BASE_URLS": "",
            "VLLM_MODEL": "stub",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "DEBUG": "0",
            "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            # The bench measures the engine, not the abuse limits: one client address opens every chat.
            "CHAT_HELLOS_PER_MINUTE_PER_IP": "100000",
            "CHAT_CONVERSATIONS_PER_MINUTE_PER_IP": "100000",
            "CHAT_MESSAGES_PER_MINUTE_PER_IP": "1000000",
            "CHAT_MESSAGES_PER_MINUTE": "100000",
            "CHAT_MESSAGES_PER_MINUTE_PER_IDENTITY": "1000000",
            "CHAT_FRAMES_PER_MINUTE": "100000",
        }

    def start(self, name: str, argv: list[str]) -> None:
        # Tagged, so pg_stat_activity tells this process's connections apart (P8).
        url = os.environ["DATABASE_URL"]
        separator = "&" if "?" in url else "?"
        self.children.start(name, argv, {"DATABASE_URL": f"{url}{separator}application_name=bench-{name}"})

    def start_all(self, *, ttft_ms: float, token_ms: float, tokens: int) -> None:
        stub = [sys.executable, str(REPO / "bench" / "stub_openai.py"), "--port", str(self.stub_port)]
        self.start("stub", [*stub, "--ttft-ms", str(ttft_ms), "--token-ms", str(token_ms), "--tokens", str(tokens)])
        self.start("worker", worker_argv(concurrency=self.worker_concurrency))
        self.start("web", web_argv(self.web_port))
        self.children.wait_for_port("stub", self.stub_port)
        self.children.wait_for_port("web", self.web_port)
        deadline = time.monotonic() + 120
        while " ready." not in self.children.log("worker").read_text(errors="replace"):
            if self.children.processes["worker"].poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the worker did not start:\n{self.children.log('worker').read_text()[-3000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        self.children.stop()


def stub_configure(stack: Stack, **settings: float) -> None:
    httpx.post(f"{stack.stub_url}/reset", json=settings, timeout=10).raise_for_status()


def stub_stats(stack: Stack) -> dict:
    return httpx.get(f"{stack.stub_url}/stats", timeout=30).json()


async def chat(ws_url: str, rounds: int, turns: list[Turn], stage: dict[int, str], spread: float) -> None:
    import websockets
    from websockets.typing import Origin

    me = len(stage)
    stage[me] = "connecting"
    async with websockets.connect(ws_url, origin=Origin(ORIGIN), max_size=2**20, open_timeout=60) as ws:
        stage[me] = "hello"
        await ws.send(json.dumps({"type": "hello", "v": 2}))
        while json.loads(await ws.recv())["type"] != "welcome":
            pass
        pace = random.Random(me)
        for i in range(rounds):
            stage[me] = f"turn {i}"
            # Visitors do not all press enter in the same millisecond: each waits up to `spread` s.
            await asyncio.sleep(pace.uniform(0, spread))
            key = uuid.uuid4().hex[:12]
            text = f"{QUESTIONS[i % len(QUESTIONS)]} (ref {key})"
            turn = Turn(key=key, sent=time.time())
            await ws.send(json.dumps({"type": "message", "client_id": key, "text": text}))
            while True:
                frame = json.loads(await ws.recv())
                kind = frame.get("type")
                if kind == "ack":
                    turn.acked = turn.acked or time.time()
                elif kind == "delta":
                    now = time.time()
                    turn.first_delta = turn.first_delta or now
                    turn.last_delta = now
                    turn.chars += len(frame.get("text", ""))
                elif kind == "message" and frame.get("role") == "bot":
                    turn.final = time.time()
                    break
                elif kind == "error":
                    raise RuntimeError(frame)
            turns.append(turn)
        stage[me] = "done"


async def run_chats(ws_url: str, chats: int, rounds: int, spread: float = 0.0) -> tuple[list[Turn], float]:
    turns: list[Turn] = []
    stage: dict[int, str] = {}
    started = time.perf_counter()
    pending = [asyncio.create_task(chat(ws_url, rounds, turns, stage, spread)) for _ in range(chats)]
    done, waiting = await asyncio.wait(pending, timeout=60 + (30 + spread) * rounds)
    for task in done:
        task.result()  # a chat's error, if any, stops the benchmark here
    if waiting:  # a benchmark must end: say where the chats got stuck
        stuck = {s: list(stage.values()).count(s) for s in set(stage.values())}
        raise SystemExit(f"{len(waiting)} of {chats} chats did not finish; chats by stage: {stuck}")
    return turns, time.perf_counter() - started


def p1_p2(stack: Stack, ws_url: str, chats: int, rounds: int, spread: float) -> dict:
    stub_configure(stack, ttft_ms=200, token_ms=20, tokens=50)
    turns, _ = asyncio.run(run_chats(ws_url, chats, rounds, spread))
    backend = stub_stats(stack)["requests"]
    by_ref = {k.rsplit("ref ", 1)[-1].rstrip(")"): v for k, v in backend.items()}
    overheads, client_stream, backend_stream = [], 0.0, 0.0
    stored, to_backend, delivered = [], [], []  # where the overhead goes, ms
    for turn in turns:
        times = by_ref.get(turn.key)
        if not times or turn.first_delta is None or "first_token" not in times:
            continue
        client_ttft = turn.first_delta - turn.sent
        backend_ttft = times["first_token"] - times["arrived"]
        overheads.append((client_ttft - backend_ttft) * 1000)
        acked = turn.acked or turn.sent
        stored.append((acked - turn.sent) * 1000)
        to_backend.append((times["arrived"] - acked) * 1000)
        delivered.append((turn.first_delta - times["first_token"]) * 1000)
        client_stream += (turn.last_delta or turn.first_delta) - turn.first_delta
        backend_stream += times["last_token"] - times["first_token"]
    return {
        "turns": len(turns),
        "matched": len(overheads),
        "ttft_overhead_p50_ms": percentile(overheads, 0.5),
        "ttft_overhead_p99_ms": percentile(overheads, 0.99),
        "stream_rate_ratio": backend_stream / client_stream if client_stream else float("nan"),
        "send_to_ack_p50_ms": percentile(stored, 0.5),
        "ack_to_backend_p50_ms": percentile(to_backend, 0.5),
        "first_token_to_client_p50_ms": percentile(delivered, 0.5),
    }


def p5(stack: Stack, ws_url: str, chats: int, rounds: int) -> dict:
    stub_configure(stack, ttft_ms=0, token_ms=0, tokens=5)
    turns, wall = asyncio.run(run_chats(ws_url, chats, rounds))
    return {"turns": len(turns), "seconds": wall, "turns_per_s": len(turns) / wall}


def p8(stack: Stack, turns: int, stream_seconds: float) -> dict:
    """Enqueue `turns` turns at once (as the web process does) and watch the one worker hold them."""
    import psycopg
    from django.conf import settings
    from django.db import connection

    from bots.models import Bot
    from conversations.services.conversations import conversation_start
    from conversations.services.messages import user_message_receive

    tokens = 50
    stub_configure(stack, ttft_ms=200, token_ms=stream_seconds * 1000 / tokens, tokens=tokens)
    bot = Bot.objects.get(slug="bench-llm")
    conversations = [conversation_start(bot=bot) for _ in range(turns)]
    connection.close()
    db = settings.DATABASES["default"]
    peak_streams = peak_worker_connections = peak_worker_busy = 0
    worker_sql = (
        "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity"
        " WHERE application_name = 'bench-worker'"
    )
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as monitor:
        for i, conversation in enumerate(conversations):
            user_message_receive(conversation=conversation, client_id=f"p8-{i}", text=f"long answer please {i}")
        connection.close()
        deadline = time.monotonic() + stream_seconds * 4 + 60
        while time.monotonic() < deadline:
            stats = stub_stats(stack)
            opened, busy = monitor.execute(worker_sql).fetchone() or (0, 0)
            peak_streams = max(peak_streams, stats["in_flight"])
            peak_worker_connections = max(peak_worker_connections, opened)
            peak_worker_busy = max(peak_worker_busy, busy)
            if stats["completed"] >= turns:
                break
            time.sleep(0.25)
    return {
        "turns": turns,
        "peak_streams_in_one_worker": peak_streams,
        "peak_worker_db_connections": peak_worker_connections,
        "peak_worker_db_connections_busy": peak_worker_busy,
        "completed": stub_stats(stack)["completed"],
        "pool_max_size": db["OPTIONS"]["pool"]["max_size"],
    }


def prepare_bots() -> tuple[str, str]:
    from bots.models import Bot
    from bots.services.demo import demo_bot_ensure
    from nlu.services.training import nlu_model_train

    demo = demo_bot_ensure(extra_origins=[ORIGIN])
    nlu_model_train(bot=demo, strategy="frozen")
    llm_only, _ = Bot.objects.update_or_create(
        slug="bench-llm", defaults={"name": "Bench LLM", "allowed_origins": [ORIGIN], "persona": "You help."}
    )
    return demo.public_key, llm_only.public_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--spread", type=float, default=10.0, help="P1/P2: each chat sends within this many seconds (0: all at once)"
    )
    parser.add_argument("--p5-chats", type=int, default=50)
    parser.add_argument("--p5-rounds", type=int, default=10)
    parser.add_argument("--p8-turns", type=int, default=500)
    parser.add_argument("--p8-seconds", type=float, default=10.0)
    parser.add_argument("--worker-concurrency", type=int, default=600)
    parser.add_argument("--smoke", action="store_true", help="a few turns of each, for CI")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.chats, args.rounds, args.p5_chats, args.p5_rounds, args.p8_turns, args.p8_seconds = 4, 1, 4, 2, 8, 1.0
        args.spread = 1.0
        args.worker_concurrency, args.no_write = 16, True

    workdir = Path(tempfile.mkdtemp(prefix="bench-turns-"))
    print(f"logs: {workdir}", flush=True)
    server = setup_django_with_own_database(prefix="bench-turns-", extra_env={"LOG_LEVEL": "WARNING"})
    stack = Stack(workdir=workdir, worker_concurrency=args.worker_concurrency)
    try:
        demo_key, llm_only_key = prepare_bots()
        stack.start_all(ttft_ms=200, token_ms=20, tokens=50)
        ws_url = stack.web_url.replace("http", "ws", 1) + f"/ws/chat/{demo_key}/"
        llm_only_url = stack.web_url.replace("http", "ws", 1) + f"/ws/chat/{llm_only_key}/"
        asyncio.run(run_chats(ws_url, 2, 1))  # warm-up: models loaded, connections open
        first = p1_p2(stack, ws_url, args.chats, args.rounds, args.spread)
        fifth = p5(stack, ws_url, args.p5_chats, args.p5_rounds)
        fifth["llm_only_turns_per_s"] = p5(stack, llm_only_url, args.p5_chats, args.p5_rounds)["turns_per_s"]
        eighth = p8(stack, args.p8_turns, args.p8_seconds)
    finally:
        stack.stop()
        stop_own_redis()
        del server
    report(args, first, fifth, eighth)


def report(args: argparse.Namespace, first: dict, fifth: dict, eighth: dict) -> None:
    rows = [
        ["P1", f"client TTFT - backend TTFT, {args.chats} chats x {args.rounds} (each within {args.spread:g} s), p50 / p99",
         f"{first['ttft_overhead_p50_ms']:.1f} / {first['ttft_overhead_p99_ms']:.1f} ms", "<= 10 / <= 40 ms"],
        ["P2", "streaming rate, client / backend", f"{first['stream_rate_ratio']:.3f}", ">= 0.95"],
        ["P5", f"turns/s end to end, instant backend, {args.p5_chats} chats x {args.p5_rounds}",
         f"{fifth['turns_per_s']:.0f} (no NLU/retrieval: {fifth['llm_only_turns_per_s']:.0f})", ">= 300"],
        ["P8", f"turns streaming at once in one worker ({args.p8_seconds:.0f} s streams)",
         f"{eighth['peak_streams_in_one_worker']} of {eighth['turns']}", ">= 500"],
        ["P8", "PostgreSQL connections held by that worker meanwhile",
         f"{eighth['peak_worker_db_connections']} open, {eighth['peak_worker_db_connections_busy']} busy"
         f" (pool max {eighth['pool_max_size']})", "<= 10"],
    ]  # fmt: skip
    result = table(["row", "measure", "measured", "target"], rows)
    result += "\n\nWhere P1's time goes (p50 of each leg, ms):\n\n" + table(
        ["message -> ack (web stores it)", "ack -> request at the backend (queue, NLU, retrieval)",
         "backend's first token -> client"],
        [[f"{first['send_to_ack_p50_ms']:.1f}", f"{first['ack_to_backend_p50_ms']:.1f}",
          f"{first['first_token_to_client_p50_ms']:.1f}"]],
    )  # fmt: skip
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"machine: {machine}; worker: threads pool x {args.worker_concurrency}\n{result}")
    if args.no_write:
        return
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(
        json.dumps({"machine": machine, "args": vars(args), "p1_p2": first, "p5": fifth, "p8": eighth}, indent=2)
    )
    command = (
        f"python bench/turn_engine.py --chats {args.chats} --rounds {args.rounds} --spread {args.spread:g}"
        f" --p5-chats {args.p5_chats}"
        f" --p5-rounds {args.p5_rounds} --p8-turns {args.p8_turns} --p8-seconds {args.p8_seconds:g}"
    )
    write_section(
        "Turn engine on a stub backend (P1, P2, P5, P8)",
        f"""
`{command}` on {machine}. Its own stack: embedded PostgreSQL and Redis, one uvicorn web process,
ONE Celery worker process (threads pool x {args.worker_concurrency}, database pool max
{eighth["pool_max_size"]}), and `bench/stub_openai.py` as the backend in its own process (P1/P2:
200 ms TTFT, 20 ms per token, 50 tokens; P5: instant; P8: {args.p8_seconds:g} s streams). The demo
bot answers, so NLU, dialogue and retrieval run on every turn. P1 subtracts the backend's own TTFT
(from its request log) from the client's, per turn. Raw figures: `docs/bench/turn_engine.json`.

{result}
""",
    )


if __name__ == "__main__":
    main()
