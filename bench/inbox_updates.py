"""Inbox under load (issue #12): N queued conversations, M agents with the inbox open; how long from a
handoff's commit until every agent's page has the update, and how long a page takes to list the queue.

Starts its own embedded PostgreSQL and Redis and one web process (uvicorn) on loopback; no worker,
so the conversations stay queued (nothing routes them away) and every agent sees every update. The
handoffs are made in this process through the real service (`handoff_request`), which publishes
after commit exactly as the web or the worker would; each agent socket timestamps what it receives
with the same clock. Bounded: `--conversations` handoffs, `--agents` sockets, one run.

    .venv/bin/python bench/inbox_updates.py                 # 200 conversations, 20 agents
    .venv/bin/python bench/inbox_updates.py --smoke         # CI: 20 x 3, nothing written
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

import psutil
import websockets
from common import (
    REPO,
    ChildProcesses,
    percentile,
    setup_django_with_own_database,
    stop_own_redis,
    table,
    web_argv,
    write_section,
)
from websockets.typing import Origin

WEB_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "LOG_LEVEL": "WARNING",
}
JSON_OUT = REPO / "docs" / "bench" / "inbox_updates.json"
UPDATE_TIMEOUT_S = 30.0


def agents_create(count: int, bot: Any) -> list[str]:
    """`count` agents in the bot's team, each with a logged-in session; returns the session keys."""
    from django.contrib.auth.models import User
    from django.test import Client

    from analytics.services import user_set_role
    from bots.models import AgentProfile, AgentTeam

    team, _ = AgentTeam.objects.get_or_create(name="Bench team")
    team.bots.add(bot)
    sessions = []
    for i in range(count):
        user, _ = User.objects.get_or_create(username=f"bench-agent-{i}", defaults={"first_name": f"Agent {i}"})
        user_set_role(user=user, role="agent")
        team.members.add(user)
        AgentProfile.objects.update_or_create(user=user, defaults={"presence": AgentProfile.Presence.OFFLINE})
        client = Client()
        client.force_login(user)
        sessions.append(client.cookies["sessionid"].value)
    return sessions


async def agent_socket(url: str, origin: str, session: str) -> Any:
    ws = await websockets.connect(
        url, origin=Origin(origin), additional_headers={"Cookie": f"sessionid={session}"}, open_timeout=30
    )
    await ws.send(json.dumps({"type": "hello"}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
        if frame["type"] == "welcome":
            return ws
        if frame["type"] == "error":
            raise RuntimeError(f"inbox hello refused: {frame}")


async def receive_updates(ws: Any, seen: dict[int, float], expected: int) -> None:
    """Record when each conversation's first `update` (kind handoff_requested) reached this socket."""
    deadline = time.perf_counter() + UPDATE_TIMEOUT_S + 60
    while len(seen) < expected and time.perf_counter() < deadline:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=UPDATE_TIMEOUT_S))
        except TimeoutError:
            return
        update = frame.get("update") if frame.get("type") == "update" else None
        if update and update.get("kind") == "handoff_requested":
            seen.setdefault(int(update["conversation_id"]), time.perf_counter())


def handoffs_make(bot: Any, count: int, interval_s: float, started: dict[int, float]) -> None:
    """In a thread: queue `count` conversations, one every `interval_s`, recording each commit time."""
    from django.db import connection

    from conversations.services.conversations import conversation_start
    from conversations.services.handoff import handoff_request

    try:
        for i in range(count):
            conversation = conversation_start(bot=bot, visitor_id=f"bench-visitor-{i}")
            before = time.perf_counter()
            handoff_request(conversation_id=conversation.pk, reason="bench")
            started[conversation.pk] = before
            time.sleep(interval_s)
    finally:
        connection.close()


async def list_latency(url: str, origin: str, session: str, samples: int) -> list[float]:
    ws = await agent_socket(url, origin, session)
    timings = []
    try:
        for _ in range(samples):
            began = time.perf_counter()
            await ws.send(json.dumps({"type": "list", "view": "unassigned", "bot_id": None, "cursor": None}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=30))
                if frame["type"] == "list":
                    timings.append(time.perf_counter() - began)
                    break
    finally:
        await ws.close()
    return timings


async def run(
    url: str, origin: str, sessions: list[str], bot: Any, *, conversations: int, rate: float
) -> dict[str, Any]:
    sockets = [await agent_socket(url, origin, s) for s in sessions]
    seen: list[dict[int, float]] = [{} for _ in sockets]
    receivers = [asyncio.create_task(receive_updates(ws, seen[i], conversations)) for i, ws in enumerate(sockets)]
    started: dict[int, float] = {}
    maker = threading.Thread(target=handoffs_make, args=(bot, conversations, 1 / rate, started))
    maker.start()
    await asyncio.to_thread(maker.join)
    await asyncio.gather(*receivers)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    latencies = [at - started[cid] for per_agent in seen for cid, at in per_agent.items() if cid in started]
    listing = await list_latency(url, origin, sessions[0], samples=20)
    return {
        "deliveries_expected": conversations * len(sockets),
        "deliveries": len(latencies),
        "latency_s": latencies,
        "list_s": listing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--rate", type=float, default=20.0, help="handoffs per second")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.conversations, args.agents, args.no_write = 20, 3, True
    server = setup_django_with_own_database(prefix="bench-inbox-", extra_env=WEB_ENV)
    from bots.models import Bot
    from chatplatform.launcher.embedded import free_port

    bot, _ = Bot.objects.update_or_create(slug="bench-inbox", defaults={"name": "Inbox bench"})
    sessions = agents_create(args.agents, bot)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    children = ChildProcesses(Path(tempfile.mkdtemp(prefix="bench-inbox-")), WEB_ENV)
    machine = (
        f"{platform.node()}: {os.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}"
    )
    print(f"machine: {machine}", flush=True)
    print(
        f"parameters: {args.conversations} handoffs at {args.rate:g}/s, {args.agents} agents with the inbox open",
        flush=True,
    )
    children.start("web", web_argv(port))
    try:
        children.wait_for_port("web", port)
        result = asyncio.run(
            run(
                f"ws://127.0.0.1:{port}/ws/inbox/",
                origin,
                sessions,
                bot,
                conversations=args.conversations,
                rate=args.rate,
            )
        )
    finally:
        children.stop()
        stop_own_redis()
        if server is not None:
            cast(Any, server).cleanup()
    ms = [s * 1000 for s in result["latency_s"]]
    list_ms = [s * 1000 for s in result["list_s"]]
    rows = [
        [
            f"{args.conversations} queued, {args.agents} agents",
            f"{result['deliveries']}/{result['deliveries_expected']}",
            f"{percentile(ms, 0.5):.0f}",
            f"{percentile(ms, 0.99):.0f}",
            f"{max(ms) if ms else float('nan'):.0f}",
            f"{percentile(list_ms, 0.5):.0f}",
            f"{percentile(list_ms, 0.99):.0f}",
        ]
    ]
    headers = ["run", "updates delivered", "update p50 ms", "update p99 ms", "max ms", "list p50 ms", "list p99 ms"]
    out = table(headers, rows)
    print(out)
    if args.no_write:
        return
    JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
    JSON_OUT.write_text(json.dumps({"machine": machine, "parameters": vars(args), **result}, indent=1))
    write_section(
        "Inbox updates (#12)",
        f"`.venv/bin/python bench/inbox_updates.py` on {machine}. From a handoff's commit to the `update` "
        "frame on every open inbox page (one web process, embedded PostgreSQL and Redis, no worker so the "
        f"conversations stay queued), and the time to list the queue (25 per page) with {args.conversations} "
        f"waiting. Target: updates within 1 s p99.\n\n{out}\n",
    )


if __name__ == "__main__":
    main()
