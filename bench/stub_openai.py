"""A stand-in OpenAI-compatible streaming backend with a set time to first token and token rate.

For benchmarks that measure what the platform adds on top of a backend: run it in its own process
(so its CPU does not count against the platform), point VLLM_BASE_URL at it, and read `/stats` for
what the backend itself saw (per request: arrival, first token, last token; streams in flight).

    python bench/stub_openai.py --port 8100 --ttft-ms 200 --token-ms 20 --tokens 50

`--ttft-max-ms` (above `--ttft-ms`) draws each request's time to first token uniformly between the
two, for a backend whose replies take a varying time (the soak's "stub LLM at 1-3 s").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from typing import Any

from aiohttp import web

WORD = "tok "  # one "token" per chunk: the platform's deltas add up to tokens * len(WORD) characters


class Backend:
    def __init__(self, *, ttft_ms: float, token_ms: float, tokens: int, ttft_max_ms: float = 0.0) -> None:
        self.ttft_s, self.token_s, self.tokens = ttft_ms / 1000, token_ms / 1000, tokens
        self.ttft_max_s = ttft_max_ms / 1000
        self.in_flight = self.peak_in_flight = self.completed = 0
        self.requests: dict[str, dict[str, float]] = {}  # key (last user text) -> times

    async def models(self, _: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "stub", "object": "model"}]})

    async def stats(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "in_flight": self.in_flight,
                "peak_in_flight": self.peak_in_flight,
                "completed": self.completed,
                "requests": self.requests,
            }
        )

    async def reset(self, request: web.Request) -> web.Response:
        settings = await request.json() if request.can_read_body else {}
        self.ttft_s = settings.get("ttft_ms", self.ttft_s * 1000) / 1000
        self.token_s = settings.get("token_ms", self.token_s * 1000) / 1000
        self.tokens = int(settings.get("tokens", self.tokens))
        self.ttft_max_s = settings.get("ttft_max_ms", self.ttft_max_s * 1000) / 1000
        self.peak_in_flight, self.completed, self.requests = self.in_flight, 0, {}
        return web.json_response({"ok": True})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        body = await request.json()
        key = str(body["messages"][-1].get("content", ""))[-64:]
        times = self.requests[key] = {"arrived": arrived}
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(random.uniform(self.ttft_s, max(self.ttft_s, self.ttft_max_s)))
            for i in range(self.tokens):
                if i:
                    await asyncio.sleep(self.token_s)
                delta: dict[str, Any] = {"content": WORD}
                if i == 0:
                    delta["role"] = "assistant"
                    times["first_token"] = time.time()
                await response.write(_event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
            times["last_token"] = time.time()
            await response.write(_event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
            usage = {"prompt_tokens": 10, "completion_tokens": self.tokens, "total_tokens": 10 + self.tokens}
            await response.write(_event({"choices": [], "usage": usage}))
            await response.write(b"data: [DONE]\n\n")
            self.completed += 1
        finally:
            self.in_flight -= 1
        return response


def _event(payload: dict[str, Any]) -> bytes:
    payload = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "model": "stub", **payload}
    return f"data: {json.dumps(payload)}\n\n".encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttft-ms", type=float, default=200)
    parser.add_argument("--token-ms", type=float, default=20)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--ttft-max-ms", type=float, default=0.0, help="draw each TTFT in [--ttft-ms, this]")
    args = parser.parse_args()
    backend = Backend(ttft_ms=args.ttft_ms, token_ms=args.token_ms, tokens=args.tokens, ttft_max_ms=args.ttft_max_ms)
    app = web.Application(client_max_size=4 * 2**20)
    app.router.add_get("/v1/models", backend.models)
    app.router.add_get("/stats", backend.stats)
    app.router.add_post("/reset", backend.reset)
    app.router.add_post("/v1/chat/completions", backend.chat)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, backlog=2048)


if __name__ == "__main__":
    main()
