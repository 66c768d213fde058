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
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

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


RELIST_EVERY_S = 0.5  # static/inbox/inbox.js: at most one re-read per half second, one in flight


async def receive_updates(
    ws: Any, seen: dict[int, float], expected: int, *, relist: bool, list_timings: list[float]
) -> None:
    """Record when each conversation's first `update` (kind handoff_requested) reached this socket.
    With `relist`, behave like the inbox page: an update makes the page re-read its list (at most
    every RELIST_EVERY_S, one request in flight), which is the load that real pages add."""
    deadline = time.perf_counter() + UPDATE_TIMEOUT_S + 60
    asked_at: float | None = None
    last_ask = 0.0
    while len(seen) < expected and time.perf_counter() < deadline:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=UPDATE_TIMEOUT_S))
        except TimeoutError:
            return
        now = time.perf_counter()
        if frame.get("type") == "list" and asked_at is not None:
            list_timings.append(now - asked_at)
            asked_at = None
        update = frame.get("update") if frame.get("type") == "update" else None
        if update and update.get("kind") == "handoff_requested":
            seen.setdefault(int(update["conversation_id"]), now)
            if relist and asked_at is None and now - last_ask >= RELIST_EVERY_S:
                asked_at = last_ask = now
                await ws.send(json.dumps({"type": "list", "view": "unassigned", "bot_id": None, "cursor": None}))


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
    url: str, origin: str, sessions: list[str], bot: Any, *, conversations: int, rate: float, relist: bool
) -> dict[str, Any]:
    sockets = [await agent_socket(url, origin, s) for s in sessions]
    seen: list[dict[int, float]] = [{} for _ in sockets]
    lists_under_load: list[float] = []
    receivers = [
        asyncio.create_task(receive_updates(ws, seen[i], conversations, relist=relist, list_timings=lists_under_load))
        for i, ws in enumerate(sockets)
    ]
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
        "list_under_load_s": lists_under_load,
    }


def queue_empty(bot: Any) -> None:
    """Between runs: the next run starts with an empty queue, like the first."""
    from bots.models import Conversation

    Conversation.objects.filter(bot=bot).delete()


RUNS = (("receive only", False), ("re-read like the page", True))


def row(label: str, result: dict[str, Any]) -> list[str]:
    ms = [s * 1000 for s in result["latency_s"]]
    loaded = [s * 1000 for s in result["list_under_load_s"]]
    idle = [s * 1000 for s in result["list_s"]]
    return [
        label,
        f"{result['deliveries']}/{result['deliveries_expected']}",
        f"{percentile(ms, 0.5):.0f}",
        f"{percentile(ms, 0.99):.0f}",
        f"{max(ms) if ms else float('nan'):.0f}",
        f"{percentile(loaded, 0.5):.0f}" if loaded else "-",
        f"{percentile(loaded, 0.99):.0f}" if loaded else "-",
        f"{percentile(idle, 0.5):.0f}",
    ]


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
    machine = machine_description()
    print(f"machine: {machine}", flush=True)
    print(
        f"parameters: {args.conversations} handoffs at {args.rate:g}/s, {args.agents} agents with the inbox open",
        flush=True,
    )
    children.start("web", web_argv(port))
    try:
        children.wait_for_port("web", port)
        results = {}
        for label, relist in RUNS:
            queue_empty(bot)
            results[label] = asyncio.run(
                run(
                    f"ws://127.0.0.1:{port}/ws/inbox/",
                    origin,
                    sessions,
                    bot,
                    conversations=args.conversations,
                    rate=args.rate,
                    relist=relist,
                )
            )
    finally:
        children.stop()
        stop_own_redis()
        if server is not None:
            cast(Any, server).cleanup()
    rows = [row(label, result) for label, result in results.items()]
    headers = [
        "pages",
        "updates delivered",
        "update p50 ms",
        "update p99 ms",
        "max ms",
        "list under load p50 ms",
        "list under load p99 ms",
        "list idle p50 ms",
    ]
    out = table(headers, rows)
    print(out)
    if args.no_write:
        return
    JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
    JSON_OUT.write_text(json.dumps({"machine": machine, "parameters": vars(args), "runs": results}, indent=1))
    write_section(
        "Inbox updates (#12)",
        f"`.venv/bin/python bench/inbox_updates.py` on {machine}. From a handoff's commit to the `update` "
        f"frame on every open inbox page: {args.conversations} handoffs at {args.rate:g}/s, {args.agents} agents "
        "(one web process, embedded PostgreSQL and Redis, no worker so the conversations stay queued). "
        "Two runs: pages that only receive, and pages that re-read their list on updates as "
        "`static/inbox/inbox.js` does (at most every 0.5 s, one request in flight); list times are "
        "for 25 per page. Target: updates within 1 s p99. Before the updates carried their own "
        "notification text (each page read it from the database, on one thread per process) the "
        f"receive-only run measured 1506 ms p50, 2816 ms p99.\n\n{out}\n",
    )


if __name__ == "__main__":
    main()
