"""SQL queries and worker time per turn, with and without the per-process cache of the bot's spec
(`BOT_SPEC_CACHE_SIZE`), side by side in one run.

In one process, on its own embedded PostgreSQL: the demo bot (NLU trained, the frozen stage), the
real turn service (`turn_run`: claim, NLU, dialogue, retrieval, store) and an instant in-memory
LLM, so what is left is the platform's own work. Every query of each turn is counted with
`connection.execute_wrapper`. The modes alternate turn by turn, so both see the same warm caches
and the same database.

    python bench/spec_cache.py [--turns 200] [--no-write]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from common import machine_description, median, percentile, setup_django_with_own_database, table, write_section

QUESTIONS = [
    "hi there",
    "where is my order?",
    "What is your returns policy?",
    "Can you recommend a tent for two people hiking in the mountains?",
    "I want to talk to a person",
    "thanks, bye",
]


class InstantStream:
    def __init__(self) -> None:
        from engine.types import CompletionUsage

        self.usage = CompletionUsage(prompt_tokens=100, completion_tokens=3, model="bench")

    def __iter__(self) -> Iterator[Any]:
        from engine.types import CompletionChunk

        yield from (CompletionChunk(text=t) for t in ("Happy ", "to ", "help."))


class InstantLLM:
    def stream(self, request: Any) -> InstantStream:
        return InstantStream()


class NoEvents:
    def typing(self, **_: Any) -> None: ...
    def delta(self, **_: Any) -> None: ...
    def message(self, **_: Any) -> None: ...
    def error(self, **_: Any) -> None: ...


@dataclass
class Mode:
    name: str
    cache_size: int
    queries: list[int] = field(default_factory=list)
    spec_queries: list[int] = field(default_factory=list)
    milliseconds: list[float] = field(default_factory=list)


def one_turn(bot: Any, text: str, mode: Mode, number: int) -> None:
    from django.db import connection
    from django.test.utils import override_settings

    from conversations.services.conversations import conversation_start
    from conversations.services.messages import user_message_receive
    from conversations.services.turns import turn_run

    conversation = conversation_start(bot=bot)
    message = user_message_receive(conversation=conversation, client_id=f"bench-{number}", text=text).message
    statements: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    with override_settings(BOT_SPEC_CACHE_SIZE=mode.cache_size), connection.execute_wrapper(count):
        started = time.perf_counter()
        turn_run(user_message_id=message.pk, events=NoEvents(), llm=InstantLLM(), coalesce_ms=0)
        mode.milliseconds.append((time.perf_counter() - started) * 1000)
    mode.queries.append(len(statements))
    spec_tables = ('"bots_intent"', '"bots_responsetemplate"', '"bots_formslot"')
    mode.spec_queries.append(sum(1 for sql in statements if any(f"FROM {t}" in sql for t in spec_tables)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200, help="turns per mode")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    server = setup_django_with_own_database(prefix="bench-spec-", extra_env={"LOG_LEVEL": "WARNING"})

    from bots.services.demo import demo_bot_ensure
    from nlu.services.training import nlu_model_train

    bot = demo_bot_ensure(extra_origins=[])
    nlu_model_train(bot=bot, strategy="frozen")
    modes = [Mode("read every turn (BOT_SPEC_CACHE_SIZE=0)", 0), Mode("cached (default)", 256)]
    questions = itertools.cycle(QUESTIONS)
    for warm_up in range(4):
        one_turn(bot, next(questions), Mode("warm-up", 256), -1 - warm_up)
    for number in range(args.turns):
        text = next(questions)
        for index, mode in enumerate(modes):
            one_turn(bot, text, mode, number * len(modes) + index)
    del server
    report(args, modes)


def report(args: argparse.Namespace, modes: list[Mode]) -> None:
    off, on = modes
    rows = [
        [mode.name, f"{median(mode.queries):.0f}", f"{max(mode.queries)}", f"{median(mode.spec_queries):.0f}",
         f"{median(mode.milliseconds):.1f}", f"{percentile(mode.milliseconds, 0.95):.1f}"]
        for mode in modes
    ]  # fmt: skip
    rows.append(
        ["cached / read every turn", f"{median(on.queries) / median(off.queries):.2f}", "", "",
         f"{median(on.milliseconds) / median(off.milliseconds):.2f}",
         f"{percentile(on.milliseconds, 0.95) / percentile(off.milliseconds, 0.95):.2f}"]
    )  # fmt: skip
    result = table(
        ["bot spec", "queries a turn (p50)", "max", "of them reading intents/responses/forms", "ms a turn p50", "p95"],
        rows,
    )
    print(result)
    if args.no_write:
        return
    write_section(
        "Bot spec cache: queries per turn",
        f"`python bench/spec_cache.py --turns {args.turns}` on {machine_description()}. In one process: the demo "
        "bot (frozen NLU), the real turn service (claim, NLU, dialogue, retrieval, store) and an instant "
        "in-memory LLM, so only the platform's own work is left; every SQL statement of each turn counted "
        f"with `connection.execute_wrapper`; {args.turns} turns a mode, the modes alternating turn by turn. "
        "Each turn is a new conversation (the worst case for the history and tracker reads). With the cache "
        "off the spec is read twice a turn (the NLU step asks whether the bot has intents through it); before "
        "the cache a turn made 4 such reads, 23 queries in all.\n\n" + result,
    )


if __name__ == "__main__":
    main()
