"""Row 1 of the reliability matrix (docs/reliability.md): many WebSocket chats, each sending one
message every `--interval` seconds for `--minutes`, against a stub LLM whose replies take 1-3 s.

It starts its own stack (embedded PostgreSQL and Redis, ONE ASGI web process, ONE Celery worker on
the threads pool with the compose file's 200 threads) like bench/turn_engine.py. Half the chats talk
to the demo bot (NLU, dialogue, retrieval, template replies or the LLM), half to an LLM-only bot
(every turn streams from the stub: time to first token 0.5-2.5 s, then 10 tokens 50 ms apart).

Each chat waits for the ack and the bot's final message of one message before its next slot. It
checks, and prints, what the row promises:

- nothing lost: every message acked and answered, every sent `client_id` stored in PostgreSQL with
  one bot reply;
- nothing duplicated: one `message_id` per `client_id` across acks, one final bot message per visitor
  message, no gap in each conversation's `seq`;
- memory flat: the web and worker processes' RSS (psutil, every 5 s) after the warm-up (first third
  of the run) against the end; "flat" = grew by less than 10 % and less than 40 MB;
- ack latency: send -> ack p50/p95/p99 (the target is p95 < 300 ms).

    python bench/soak.py [--chats 200] [--interval 10] [--minutes 3] [--json out.json] [--no-write]
    python bench/soak.py --smoke      # 20 chats, 30 s, nothing written
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil
import websockets
from common import REPO, machine_description, percentile, setup_django_with_own_database, stop_own_redis, table
from common import write_section as write_benchmarks_section
from turn_engine import ORIGIN, Stack, prepare_bots, stub_configure
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin

REPLY_TIMEOUT_S = 30.0  # then the chat goes on; a reply that comes later still counts
STALL_RESUME_S = 15.0  # the widget's stalled-reply recovery (static/widget/src/client.js)
DRAIN_TIMEOUT_S = 120.0  # after its last message, how long a chat waits for the replies still due
RSS_EVERY_S = 5.0
FLAT_GROWTH_FRACTION = 0.10
FLAT_GROWTH_BYTES = 40 * 2**20
ACK_P95_TARGET_MS = 300.0


@dataclass
class Sent:
    client_id: str
    at: float
    ack_ms: float | None = None
    reply_ms: float | None = None
    message_ids: set[str] = field(default_factory=set)  # from every ack of this client_id
    replies: int = 0  # final bot messages answering it


@dataclass
class ChatLog:
    sent: list[Sent] = field(default_factory=list)
    by_message_id: dict[str, Sent] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    max_seq: int = 0  # the highest seq seen, as the widget keeps it
    resumes: int = 0  # resume frames sent because a reply stalled

    def unanswered(self) -> list[Sent]:
        return [s for s in self.sent if not s.replies]


async def chat(url: str, log: ChatLog, *, interval: float, until: float, phase: float) -> None:
    async with websockets.connect(url, origin=Origin(ORIGIN), max_size=2**20, open_timeout=60) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 2}))
        while json.loads(await ws.recv())["type"] != "welcome":
            pass
        next_slot = time.monotonic() + phase
        while next_slot < until:
            await asyncio.sleep(max(0.0, next_slot - time.monotonic()))
            next_slot += interval
            sent = Sent(client_id=uuid.uuid4().hex[:16], at=time.monotonic())
            log.sent.append(sent)
            text = f"soak message {len(log.sent)}: is the tent waterproof? (ref {sent.client_id})"
            await ws.send(json.dumps({"type": "message", "client_id": sent.client_id, "text": text}))
            # A late reply is not lost: the chat sends its next message and counts the reply when it comes.
            await read_frames(ws, log, until_answered=[sent], timeout=REPLY_TIMEOUT_S)
        await read_frames(ws, log, until_answered=log.sent, timeout=DRAIN_TIMEOUT_S)
        if late := log.unanswered():
            log.errors.append(f"{len(late)} messages unanswered {DRAIN_TIMEOUT_S:.0f} s after the last one")


async def read_frames(ws: ClientConnection, log: ChatLog, *, until_answered: list[Sent], timeout: float) -> None:
    """Record acks and final bot replies until every message of `until_answered` has its reply.
    Like the widget, a reply that has not come `STALL_RESUME_S` after the last frame is asked for
    with `resume` (the channel layer is lossy; PostgreSQL has the reply)."""
    deadline = time.monotonic() + timeout
    while any(not s.replies for s in until_answered) and time.monotonic() < deadline:
        try:
            wait = min(STALL_RESUME_S, deadline - time.monotonic())
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=wait))
        except TimeoutError:
            if time.monotonic() < deadline:
                log.resumes += 1
                await ws.send(json.dumps({"type": "resume", "last_seq": log.max_seq}))
            continue
        kind = frame.get("type")
        now = time.monotonic()
        if isinstance(frame.get("seq"), int):
            log.max_seq = max(log.max_seq, frame["seq"])
        if kind == "ack":
            sent = next((s for s in reversed(log.sent) if s.client_id == frame.get("client_id")), None)
            if sent is not None:
                sent.ack_ms = sent.ack_ms if sent.ack_ms is not None else (now - sent.at) * 1000
                sent.message_ids.add(frame["message_id"])
                log.by_message_id[frame["message_id"]] = sent
        elif kind == "message" and frame.get("role") == "bot" and frame.get("reply_to") in log.by_message_id:
            sent = log.by_message_id[frame["reply_to"]]
            sent.replies += 1
            sent.reply_ms = sent.reply_ms if sent.reply_ms is not None else (now - sent.at) * 1000
        elif kind == "error":
            log.errors.append(f"{frame.get('code')}: {frame.get('message', '')}"[:200])


class RssSampler(threading.Thread):
    """The resident memory of each named process every few seconds, while the soak runs."""

    def __init__(self, processes: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.processes = {name: psutil.Process(pid) for name, pid in processes.items()}
        self.samples: dict[str, list[tuple[float, int]]] = defaultdict(list)
        self.stopped = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopped.is_set():
            for name, process in self.processes.items():
                self.samples[name].append((time.monotonic() - started, process.memory_info().rss))
            self.stopped.wait(RSS_EVERY_S)


def cpu_seconds_by_role(stack: Stack) -> dict[str, float]:
    """CPU time used so far by each part of the box: the web and worker processes, the stub backend,
    PostgreSQL and Redis (this process's children) and this load generator itself."""
    me = psutil.Process()
    by_role: dict[str, float] = defaultdict(float)
    named = {stack.children.processes[name].pid: name for name in ("web", "worker", "stub")}
    for process in [me, *me.children(recursive=True), *embedded_postgres_processes()]:
        try:
            times = process.cpu_times()
            name = process.name()
        except psutil.NoSuchProcess:
            continue
        role = named.get(process.pid) or ("load generator" if process.pid == me.pid else "")
        role = role or ("postgres" if "postgres" in name else "redis" if "redis" in name else "other")
        by_role[role] += times.user + times.system
    return by_role


def embedded_postgres_processes() -> list[psutil.Process]:
    """The embedded PostgreSQL's server and backends: pgserver starts it detached (not our child);
    its command line names the socket directory of DATABASE_URL."""
    socket_dir = parse_qs(urlsplit(os.environ.get("DATABASE_URL", "")).query).get("host", [""])[0]
    if not socket_dir:
        return []
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and socket_dir in " ".join(process.info["cmdline"] or ()):
            with contextlib.suppress(psutil.NoSuchProcess):
                found += [process, *process.children(recursive=True)]
    return found


def memory_verdict(samples: list[tuple[float, int]], seconds: float) -> dict[str, float | bool]:
    """RSS after the warm-up (the median of the samples around the end of the first third) against
    the end (the median of the last three samples). Medians, so one garbage-collection spike does
    not decide; the warm-up is excluded because models, pools and caches fill first."""
    warm = [rss for t, rss in samples if seconds / 3 - 2 * RSS_EVERY_S <= t <= seconds / 3 + 2 * RSS_EVERY_S]
    end = [rss for _, rss in samples[-3:]]
    start_mb, end_mb = statistics.median(warm or end) / 2**20, statistics.median(end) / 2**20
    growth = end_mb - start_mb
    flat = growth < FLAT_GROWTH_BYTES / 2**20 and growth < FLAT_GROWTH_FRACTION * start_mb
    return {
        "after_warmup_mb": round(start_mb, 1),
        "end_mb": round(end_mb, 1),
        "growth_mb": round(growth, 1),
        "flat": flat,
    }


def stored_check(sent_ids: set[str]) -> dict[str, int]:
    """What PostgreSQL holds for the soak's client ids: each stored once, each answered once, no seq gaps."""
    from django.db import connection
    from django.db.models import Count, Max

    from bots.models import Message

    stored = Counter(
        Message.objects.filter(role=Message.Role.USER, client_id__in=sent_ids).values_list("client_id", flat=True)
    )
    answered = Message.objects.filter(role=Message.Role.BOT, reply_to__client_id__in=sent_ids).count()
    conversations = Message.objects.filter(client_id__in=sent_ids).values_list("conversation_id", flat=True).distinct()
    seq_gaps = sum(
        1
        for row in Message.objects.filter(conversation_id__in=list(conversations))
        .values("conversation_id")
        .annotate(n=Count("id"), top=Max("seq"))
        if row["n"] != row["top"]
    )
    connection.close()
    return {
        "stored": len(stored),
        "stored_twice": sum(1 for n in stored.values() if n > 1),
        "answered_in_db": answered,
        "conversations_with_seq_gaps": seq_gaps,
    }


def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    print(f"logs: {workdir}", flush=True)
    server = setup_django_with_own_database(prefix="bench-soak-", extra_env={"LOG_LEVEL": "WARNING"})
    stack = Stack(workdir=workdir, worker_concurrency=args.worker_concurrency)
    try:
        demo_key, llm_only_key = prepare_bots()
        stack.start_all(ttft_ms=500, token_ms=50, tokens=10)
        stub_configure(stack, ttft_ms=500, ttft_max_ms=2500, token_ms=50, tokens=10)
        ws = stack.web_url.replace("http", "ws", 1)
        urls = [f"{ws}/ws/chat/{demo_key if i % 2 else llm_only_key}/" for i in range(args.chats)]
        seconds = args.minutes * 60
        sampler = RssSampler({name: stack.children.processes[name].pid for name in ("web", "worker")})
        sampler.start()
        cpu_before, wall_before = cpu_seconds_by_role(stack), time.monotonic()
        logs = asyncio.run(soak(urls, interval=args.interval, seconds=seconds))
        cpu_after, wall = cpu_seconds_by_role(stack), time.monotonic() - wall_before
        sampler.stopped.set()
        sampler.join()
        cpu = {role: round((cpu_after[role] - cpu_before.get(role, 0.0)) / wall, 2) for role in cpu_after}
        stored = stored_check({s.client_id for log in logs for s in log.sent})
    finally:
        stack.stop()
        stop_own_redis()
        del server
    memory = {name: memory_verdict(s, seconds) for name, s in sampler.samples.items()}
    result = summarise(args, logs, stored, memory)
    result["cpu_cores_used"] = dict(sorted(cpu.items(), key=lambda item: -item[1]))
    result["rss_mb_series"] = {name: [round(rss / 2**20) for _, rss in s] for name, s in sampler.samples.items()}
    return result


async def soak(urls: list[str], *, interval: float, seconds: float) -> list[ChatLog]:
    logs = [ChatLog() for _ in urls]
    until = time.monotonic() + seconds
    phases = random.Random(1)
    tasks = [
        asyncio.create_task(chat(url, log, interval=interval, until=until, phase=phases.uniform(0, interval)))
        for url, log in zip(urls, logs, strict=True)
    ]
    for log, outcome in zip(logs, await asyncio.gather(*tasks, return_exceptions=True), strict=True):
        if isinstance(outcome, BaseException):
            log.errors.append(f"chat ended: {outcome!r}"[:200])
    return logs


def summarise(args: argparse.Namespace, logs: list[ChatLog], stored: dict[str, int], memory: dict) -> dict:
    sent = [s for log in logs for s in log.sent]
    acks = [s.ack_ms for s in sent if s.ack_ms is not None]
    replies = [s.reply_ms for s in sent if s.reply_ms is not None]
    return {
        "chats": args.chats,
        "interval_s": args.interval,
        "minutes": args.minutes,
        "sent": len(sent),
        "acked": len(acks),
        "answered": sum(1 for s in sent if s.replies),
        "resumes": sum(log.resumes for log in logs),
        "lost": sum(1 for s in sent if s.ack_ms is None or not s.replies) + (len(sent) - stored["stored"]),
        "duplicated": sum(1 for s in sent if len(s.message_ids) > 1 or s.replies > 1) + stored["stored_twice"],
        **stored,
        "ack_p50_ms": round(percentile(acks, 0.5), 1),
        "ack_p95_ms": round(percentile(acks, 0.95), 1),
        "ack_p99_ms": round(percentile(acks, 0.99), 1),
        "reply_p50_ms": round(percentile(replies, 0.5), 1),
        "reply_p95_ms": round(percentile(replies, 0.95), 1),
        "memory": memory,
        "errors": [e for log in logs for e in log.errors][:20],
    }


def rss_by_minute(series_mb: list[int]) -> list[int]:
    """The RSS samples (one every RSS_EVERY_S) at the start and at each whole minute: whether growth
    slows (caches and per-thread arenas filling) or keeps its pace (a leak)."""
    per_minute = round(60 / RSS_EVERY_S)
    return series_mb[::per_minute] + ([series_mb[-1]] if (len(series_mb) - 1) % per_minute else [])


def report(result: dict, *, write: bool) -> None:
    memory = result["memory"]
    rows = [
        ["messages sent / acked / answered", f"{result['sent']} / {result['acked']} / {result['answered']}", "all equal"],
        ["lost (not acked, not answered or not stored)", result["lost"], "0"],
        ["resumes sent for a stalled reply", result["resumes"], "(the lossy layer's recovery)"],
        ["duplicated (two ids, two replies or stored twice)", result["duplicated"], "0"],
        ["conversations with a seq gap", result["conversations_with_seq_gaps"], "0"],
        ["ack p50 / p95 / p99", f"{result['ack_p50_ms']} / {result['ack_p95_ms']} / {result['ack_p99_ms']} ms",
         f"p95 < {ACK_P95_TARGET_MS:.0f} ms"],
        ["send -> final reply p50 / p95", f"{result['reply_p50_ms']} / {result['reply_p95_ms']} ms",
         "the stub takes 1-3 s"],
        ["CPU cores used, by part", ", ".join(f"{k} {v:.2f}" for k, v in result["cpu_cores_used"].items()),
         "2 cores on this box"],
        *[
            [f"{name} RSS after warm-up -> end", f"{m['after_warmup_mb']} -> {m['end_mb']} MB ({m['growth_mb']:+} MB)",
             "flat (< 10 % and < 40 MB)"]
            for name, m in sorted(memory.items())
        ],
        *[
            [f"{name} RSS at each minute", " -> ".join(f"{mb}" for mb in rss_by_minute(series)) + " MB",
             "levels off"]
            for name, series in sorted(result.get("rss_mb_series", {}).items())
        ],
    ]  # fmt: skip
    body = (
        f"`python bench/soak.py --chats {result['chats']} --interval {result['interval_s']:g} --minutes "
        f"{result['minutes']:g}` on {machine_description()}: one web process, one worker (threads pool, 200 threads), "
        "stub LLM replies in 1-3 s, half the chats on the demo bot and half on an LLM-only bot.\n\n"
        + table(["check", "measured", "expected"], rows)
    )
    print(body)
    if result["errors"]:
        print("first errors:\n  " + "\n  ".join(result["errors"]))
    if write:
        write_benchmarks_section("Soak: 200 chats for minutes (reliability row 1)", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between one chat's messages")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--worker-concurrency", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--smoke", action="store_true", help="20 chats for 30 s, nothing written")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--report", type=Path, metavar="JSON", help="print (and write) a saved --json run; no new run")
    args = parser.parse_args()
    if args.report:
        report(json.loads(args.report.read_text()), write=not args.no_write)
        return
    if args.smoke:
        args.chats, args.minutes, args.no_write = 20, 0.5, True
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    result = run(args)
    report(result, write=not args.no_write)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
