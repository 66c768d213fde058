"""Answer honesty (issue #13): does the bot decline what its documents do not answer, and cite the
right document when they do?

A knowledge base of COVID-QA articles goes in through the product's import path. Then every
question runs through the real turn processor (`engine.processor.TurnProcessor`) with the bot's
own retriever and grounding policy, an NLU that finds no intent (so every message is a knowledge
question) and a scripted LLM that cites passage [1] (so the citation measured is retrieval's and
the policy's, not a small model's whim):

- questions from other domains: CLINC150's test split (banking, travel, cooking... 150 intents),
  CLINC150's out-of-scope test questions, and CAIS's Chinese validation questions. The bot should
  decline (action `no_knowledge`, no LLM call). Target: >= 95 %.
- the COVID-QA questions of the imported articles: the bot should answer and its citation should
  be the question's article. Target: >= 90 %.

Nothing is tuned here: the threshold is the product default (0.35). The other thresholds are shown
to make the trade-off visible, not to choose one on this set.

    .venv/bin/python bench/answer_honesty.py                 # 98 articles, up to 400 questions per set
    .venv/bin/python bench/answer_honesty.py --smoke         # CI: 4 articles, 10 questions per set
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Iterator
from typing import Any, cast

from common import REPO, machine_description, setup_django_with_own_database, stop_own_redis, table, write_section
from knowledge_retrieval import ingest, load

DATA = REPO.parent / "shared" / "data"
THRESHOLDS = (0.30, 0.35, 0.40, 0.45)
SCRIPTED_REPLY = "According to our documents, here is the answer [1]."


class CitingLLM:
    """An OpenAI-like backend that always cites [1] and counts how often it is asked."""

    def __init__(self) -> None:
        self.calls = 0

    def stream(self, request: Any) -> Any:
        from engine.types import CompletionChunk

        self.calls += 1

        class _Stream:
            usage = None

            def __iter__(self) -> Iterator[Any]:
                yield CompletionChunk(SCRIPTED_REPLY)

        return _Stream()


def every(items: list[Any], limit: int) -> list[Any]:
    """`limit` items spread evenly over `items` (deterministic, no cherry-picking)."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def other_domain_sets(limit: int) -> dict[str, list[str]]:
    clinc = json.loads((DATA / "clinc150" / "data_full.json").read_text())
    with (DATA / "cais_zh" / "valid.csv").open(encoding="utf-8") as handle:
        cais = [row["text"] for row in csv.DictReader(handle)]
    return {
        "CLINC150 test (en)": every([text for text, _intent in clinc["test"]], limit),
        "CLINC150 out-of-scope test (en)": every([text for text, _intent in clinc["oos_test"]], limit),
        "CAIS valid (zh)": every(cais, limit),
    }


def run_turns(bot: Any, texts: list[str]) -> list[dict[str, Any]]:
    """Each text as a first message of a conversation, through the product's turn processor."""
    from bots.selectors import bot_spec
    from engine.processor import TurnProcessor
    from engine.types import ParseResult, Tracker
    from knowledge.selectors import knowledge_retriever_for

    spec = bot_spec(bot=bot)
    retriever = knowledge_retriever_for(bot)
    assert retriever is not None, "the knowledge base is empty"
    results = []
    for text in texts:
        llm = CitingLLM()
        seen: list[Any] = []

        def recording(query: str) -> list[Any]:
            seen[:] = retriever(query)
            return list(seen)

        processor = TurnProcessor(
            nlu=lambda t: ParseResult(text=t, intent=None, ranking=[], entities=[]), llm=llm, retriever=recording
        )
        out = processor.run(bot=spec, tracker=Tracker(), history=[], user_text=text, on_delta=lambda o, d: None)
        used = [trace["document_id"] for trace in out.reply.retrieval if trace["used"]]
        results.append(
            {
                "action": out.reply.action,
                "llm_calls": llm.calls,
                "cited_document": used[0] if used and out.reply.citations else None,
                "similarities": [(p.similarity, p.document_id) for p in seen],
            }
        )
    return results


def rates_at(results: list[dict[str, Any]], threshold: float, right: list[int | None] | None) -> tuple[float, float]:
    """(declined share, right-citation share) had the threshold been `threshold`."""
    declined = cited = 0
    for index, result in enumerate(results):
        evidence = sorted((s for s in result["similarities"] if s[0] >= threshold), key=lambda s: -s[0])
        if not evidence:
            declined += 1
        elif right is not None and evidence[0][1] == right[index]:
            cited += 1
    n = max(len(results), 1)
    return declined / n, cited / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--articles", type=int, default=None, help="import only the first N articles")
    parser.add_argument("--per-set", type=int, default=400, help="questions per set")
    args = parser.parse_args()
    if not (DATA / "covid_qa" / "covid_qa.json").exists():
        print("skipped: ../shared/data is not on this machine")
        return
    limit, per_set = (4, 10) if args.smoke else (args.articles, args.per_set)
    articles, questions = load(limit)
    answerable = every(questions, per_set)
    other = other_domain_sets(per_set)
    server = setup_django_with_own_database(prefix="bench-honesty-")
    try:
        from bots.models import Bot, KnowledgeDocument

        bot, _ = Bot.objects.update_or_create(slug="bench-honesty", defaults={"name": "Honesty bench"})
        machine = machine_description()
        print(f"machine: {machine}", flush=True)
        print(f"ingesting {len(articles)} articles through the import path...", flush=True)
        ingested = ingest(bot, articles)
        document_of = dict(KnowledgeDocument.objects.filter(bot=bot).values_list("external_id", "pk"))
        began = time.perf_counter()
        print(f"answerable: {len(answerable)} COVID-QA questions...", flush=True)
        answered = run_turns(bot, [q["question"] for q in answerable])
        right = [document_of.get(q["article"]) for q in answerable]
        declined_sets = {}
        for name, texts in other.items():
            print(f"other domain: {len(texts)} questions of {name}...", flush=True)
            declined_sets[name] = run_turns(bot, texts)
        seconds = time.perf_counter() - began
    finally:
        stop_own_redis()
        if server is not None:
            cast(Any, server).cleanup()

    product_rows = []
    for name, results in declined_sets.items():
        declined = sum(r["action"] == "no_knowledge" for r in results)
        calls = sum(r["llm_calls"] for r in results)
        product_rows.append([name, len(results), f"{declined / len(results):.1%} declined", calls])
    cited_right = sum(
        r["cited_document"] is not None and r["cited_document"] == doc for r, doc in zip(answered, right, strict=True)
    )
    answered_n = sum(r["action"] == "generate" for r in answered)
    product_rows.append(
        [
            "COVID-QA (answerable)",
            len(answered),
            f"{answered_n / len(answered):.1%} answered, {cited_right / len(answered):.1%} cite the right article",
            sum(r["llm_calls"] for r in answered),
        ]
    )
    product = table(["question set", "questions", "the bot (default threshold 0.35)", "LLM calls"], product_rows)
    sweep_rows = []
    for threshold in THRESHOLDS:
        row: list[object] = [f"{threshold:.2f}"]
        for results in declined_sets.values():
            row.append(f"{rates_at(results, threshold, None)[0]:.1%}")
        declined, cited = rates_at(answered, threshold, right)
        row += [f"{1 - declined:.1%}", f"{cited:.1%}"]
        sweep_rows.append(row)
    sweep = table(
        ["similarity threshold", *(f"declined: {n}" for n in declined_sets), "COVID-QA answered", "right citation"],
        sweep_rows,
    )
    print(product)
    print(sweep)
    print(f"{sum(len(r) for r in declined_sets.values()) + len(answered)} turns in {seconds:.0f} s")
    if args.smoke:
        assert all(r["llm_calls"] == 0 for rs in declined_sets.values() for r in rs if r["action"] == "no_knowledge")
        return
    write_section(
        "Answer honesty (#13)",
        f"`.venv/bin/python bench/answer_honesty.py` on {machine}. {ingested['documents']} COVID-QA articles "
        f"({ingested['chunks']} chunks) imported through the product's path; every question runs through the "
        "real turn processor with the bot's retriever and grounding policy, an NLU that finds no intent and a "
        "scripted LLM that cites [1]. Other-domain questions should be declined (target >= 95 %), COVID-QA "
        "questions answered citing their article (target >= 90 %). The threshold is the product default; the "
        "sweep shows the trade-off and was not used to choose it; it re-applies each threshold to the recorded "
        "similarities and takes the most similar passage as the cited one (the product orders evidence by fused "
        f"rank), so its 0.35 row differs a little from the product's.\n\n{product}\n\n{sweep}\n",
    )


if __name__ == "__main__":
    main()
