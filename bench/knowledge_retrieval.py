"""Knowledge retrieval on COVID-QA (issue #13): full text, vectors and their fusion, side by side.

The 98 articles go in through the product's import path (one JSONL file -> `document_upload` ->
`document_process`: parsing, heading-aware chunking with the embedding model's tokenizer,
embedding), then each of the 1,380 questions is searched three ways with the functions the bot
uses (`knowledge.selectors`): full text only, vector only, and the hybrid (reciprocal-rank fusion)
that turns and the search API run. A retrieved chunk is relevant when it belongs to the
question's article and contains the answer text. Nothing here was tuned on this set: chunk size,
candidate counts and RRF's k are the product's defaults. The questions are reported in two halves
(articles split by id parity) to show the spread.

    .venv/bin/python bench/knowledge_retrieval.py            # all 98 articles, 1,380 questions
    .venv/bin/python bench/knowledge_retrieval.py --smoke    # CI: 6 articles, nothing written
"""

from __future__ import annotations

import argparse
import json
import re
import time
from typing import Any, cast

from common import (
    REPO,
    machine_description,
    percentile,
    setup_django_with_own_database,
    stop_own_redis,
    table,
    write_section,
)

DATA = REPO.parent / "shared" / "data" / "covid_qa" / "covid_qa.json"
JSON_OUT = REPO / "docs" / "bench" / "knowledge_retrieval.json"
K = 10
_SPACE = re.compile(r"\s+")


def normalised(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def load(limit: int | None) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    raw = json.loads(DATA.read_text())
    articles, questions = [], []
    for entry in raw["data"]:
        for paragraph in entry["paragraphs"]:
            doc_id = str(paragraph["document_id"])
            first_line = paragraph["context"].strip().split("\n", 1)[0][:200]
            articles.append({"id": doc_id, "title": first_line, "text": paragraph["context"]})
            for qa in paragraph["qas"]:
                answers = [normalised(a["text"]) for a in qa["answers"] if a["text"].strip()]
                if answers:
                    questions.append({"article": doc_id, "question": qa["question"], "answers": answers})
    if limit is not None:
        articles = articles[:limit]
        kept = {a["id"] for a in articles}
        questions = [q for q in questions if q["article"] in kept]
    return articles, questions


def ingest(bot: Any, articles: list[dict[str, str]]) -> dict[str, Any]:
    from inference_worker.embedder import worker_embedder
    from knowledge.services.documents import document_process, document_upload

    embedder = worker_embedder()
    embedder.warm_up()
    data = "\n".join(json.dumps(a) for a in articles).encode()
    began = time.perf_counter()
    upload = document_upload(bot=bot, filename="covid_qa.jsonl", data=data, enqueue=False)
    result = document_process(document_id=upload.pk, embedder=embedder)
    seconds = time.perf_counter() - began
    assert result is not None and result.status == "ready", result
    return {"documents": result.documents, "chunks": result.chunks, "seconds": seconds}


def evaluate(bot: Any, questions: list[dict[str, Any]]) -> dict[str, Any]:
    from bots.models import KnowledgeChunk
    from inference_worker.embedder import worker_embedder
    from knowledge import selectors

    chunk_info = {
        pk: (external_id, normalised(text))
        for pk, external_id, text in KnowledgeChunk.objects.filter(bot=bot).values_list(
            "pk", "document__external_id", "text"
        )
    }
    embedder = worker_embedder()
    chunks = selectors.searchable_chunks(bot)
    ranks: dict[str, list[int | None]] = {"full text": [], "vector": [], "hybrid": []}
    halves: list[int] = []
    search_ms: list[float] = []
    for item in questions:
        began = time.perf_counter()
        hits = selectors.knowledge_search(bot=bot, query=item["question"], k=K)
        search_ms.append((time.perf_counter() - began) * 1000)
        vector = embedder.encode([item["question"]])[0].tolist()
        rankings = {
            "full text": selectors.full_text_ranked(chunks, item["question"])[:K],
            "vector": selectors.vector_ranked(chunks, vector)[:K],
            "hybrid": [h.chunk_id for h in hits],
        }
        for method, ranking in rankings.items():
            ranks[method].append(first_relevant(ranking, item, chunk_info))
        halves.append(int(item["article"]) % 2 if item["article"].isdigit() else 0)
    return {"ranks": ranks, "halves": halves, "search_ms": search_ms}


def first_relevant(ranking: list[int], item: dict[str, Any], chunk_info: dict[int, tuple[str, str]]) -> int | None:
    for rank, pk in enumerate(ranking, start=1):
        external_id, text = chunk_info[pk]
        if external_id == item["article"] and any(answer in text for answer in item["answers"]):
            return rank
    return None


def scores(ranks: list[int | None]) -> tuple[float, float, float]:
    n = max(len(ranks), 1)
    hit1 = sum(1 for r in ranks if r == 1) / n
    hit5 = sum(1 for r in ranks if r is not None and r <= 5) / n
    mrr = sum(1 / r for r in ranks if r is not None and r <= K) / n
    return hit1, hit5, mrr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} is not on this machine")
        return
    limit = 6 if args.smoke else None
    articles, questions = load(limit)
    server = setup_django_with_own_database(prefix="bench-knowledge-")
    try:
        from bots.models import Bot

        bot, _ = Bot.objects.update_or_create(slug="bench-knowledge", defaults={"name": "Knowledge bench"})
        machine = machine_description()
        print(f"machine: {machine}", flush=True)
        print(f"ingesting {len(articles)} articles through the import path...", flush=True)
        ingested = ingest(bot, articles)
        print(
            f"ingested: {ingested['documents']} documents, {ingested['chunks']} chunks in "
            f"{ingested['seconds']:.1f} s ({ingested['chunks'] / ingested['seconds'] * 60:.0f} chunks/min)",
            flush=True,
        )
        print(f"searching {len(questions)} questions three ways...", flush=True)
        result = evaluate(bot, questions)
    finally:
        stop_own_redis()
        if server is not None:
            cast(Any, server).cleanup()
    rows = []
    for method, ranks in result["ranks"].items():
        hit1, hit5, mrr = scores(ranks)
        half = [scores([r for r, h in zip(ranks, result["halves"], strict=True) if h == side])[1] for side in (0, 1)]
        rows.append([method, f"{hit1:.3f}", f"{hit5:.3f}", f"{mrr:.3f}", f"{half[0]:.3f} / {half[1]:.3f}"])
    out = table(["retrieval", "hit@1", "hit@5", "MRR@10", "hit@5 even / odd articles"], rows)
    latency = (
        f"hybrid search (query embedding included) p50 {percentile(result['search_ms'], 0.5):.1f} ms, "
        f"p95 {percentile(result['search_ms'], 0.95):.1f} ms over {ingested['chunks']} chunks"
    )
    print(out)
    print(latency)
    if args.no_write or args.smoke:
        return
    JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
    JSON_OUT.write_text(
        json.dumps({"machine": machine, "ingested": ingested, "questions": len(questions), **result}, indent=1)
    )
    write_section(
        "Knowledge retrieval (#13)",
        f"`.venv/bin/python bench/knowledge_retrieval.py` on {machine}. COVID-QA ({len(articles)} articles, "
        f"{len(questions)} questions; `../shared/data/covid_qa/`) imported through the product's path "
        f"({ingested['chunks']} chunks in {ingested['seconds']:.0f} s, "
        f"{ingested['chunks'] / ingested['seconds'] * 60:.0f} chunks/min including embedding), then every "
        "question searched three ways with the bot's own functions; a chunk is relevant when it is from the "
        "question's article and contains the answer. Nothing was tuned on this set (chunk size, candidates "
        f"and RRF's k are the defaults). Targets: hit@5 >= 0.90, MRR@10 >= 0.75.\n\n{out}\n\n{latency}.\n",
    )


if __name__ == "__main__":
    main()
