"""Small Chinese bots: the frozen encoder alone vs. with the character/word n-grams, side by side.

A customer's bot starts with a handful of phrases an intent. The shipped encoder (all-MiniLM-L6-v2)
has an English vocabulary that maps most Han characters to [UNK], which is why `use_ngrams_for`
turns the n-grams on for Chinese phrases at any size. This checks that rule on data it was not
chosen on: CAIS train (../shared/data/cais_zh) subsampled to k phrases an intent (two seeds),
scored on all of CAIS valid (accuracy and macro-F1: the set is very unbalanced).

    python bench/nlu_small_zh.py [--k 5 10 20 40] [--seeds 2] [--no-write]
"""

from __future__ import annotations

import argparse
import collections
import csv
import random
import sys
from pathlib import Path

from common import REPO, machine_description, table, write_section

DATA = REPO.parent / "shared" / "data" / "cais_zh"


def load(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as f:
        return [(row["text"], row["intent"]) for row in csv.DictReader(f)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 10, 20, 40], help="phrases an intent")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not (DATA / "train.csv").exists():
        print(f"skipped: {DATA} is not here (the shared development data)")
        return

    sys.path.insert(0, str(REPO))
    import numpy as np
    from sklearn.metrics import f1_score

    from engine.embeddings import shared_embedder
    from engine.nlu import TrainingExample, train

    embedder = shared_embedder(None, torch_threads=2)
    training, valid = load(DATA / "train.csv"), load(DATA / "valid.csv")
    valid_embeddings = np.asarray(embedder.encode([text for text, _ in valid]), dtype=np.float32)
    gold = [intent for _, intent in valid]
    by_intent: dict[str, list[str]] = collections.defaultdict(list)
    for text, intent in training:
        by_intent[intent].append(text)

    rows = []
    for k in args.k:
        scores: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for seed in range(args.seeds):
            rng = random.Random(seed)
            examples = [
                TrainingExample(text, intent)
                for intent, texts in sorted(by_intent.items())
                for text in rng.sample(texts, min(k, len(texts)))
            ]
            embeddings = np.asarray(embedder.encode([e.text for e in examples]), dtype=np.float32)
            for ngrams in (False, True):
                model = train(examples, embedder, embeddings=embeddings, ngrams=ngrams)
                predicted = [
                    model.rank(valid_embeddings[i], text=valid[i][0], limit=1)[0].name for i in range(len(valid))
                ]
                accuracy = float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)]))
                scores[ngrams].append((accuracy, float(f1_score(gold, predicted, average="macro"))))
        off, on = (np.mean(scores[flag], axis=0) for flag in (False, True))
        rows.append(
            [k, f"{off[0]:.1%} / {off[1]:.3f}", f"{on[0]:.1%} / {on[1]:.3f}", f"{(on[0] - off[0]) * 100:+.1f} pt"]
        )
    result = table(["phrases an intent", "encoder alone: acc / macro-F1", "+ n-grams", "accuracy gain"], rows)
    print(result)
    if not args.no_write:
        write_section(
            "NLU on small Chinese bots",
            f"`python bench/nlu_small_zh.py --k {' '.join(map(str, args.k))} --seeds {args.seeds}` on "
            f"{machine_description()}. CAIS train subsampled to k phrases an intent ({args.seeds} seeds, "
            f"mean), {len(valid)} CAIS valid messages scored; the frozen encoder (all-MiniLM-L6-v2) with and "
            "without the n-gram block. The rule it checks: n-grams on for Chinese phrases at any size "
            "(engine/nlu_ngrams.py), while English keeps them off below 40 phrases an intent (CLINC150 "
            "10-shot: -1.1 pt). Small k is far from the full-data figures (#16's targets are for the whole "
            "train split).\n\n" + result,
        )


if __name__ == "__main__":
    main()
