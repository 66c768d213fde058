"""Choosing a bot's NLU threshold from held-out examples.

The threshold trades in-scope accuracy (a correct intent below it is lost to the fallback) against
out-of-scope recall (an unrelated message above it gets a wrong intent). The rule here constrains the
in-scope side and then rejects as much as possible: the highest out-of-scope recall whose in-scope
accuracy stays >= `min_accuracy`. It was chosen on CLINC150 over "balance both targets" because it
does not depend on how representative the out-of-scope examples are (docs/benchmarks.md); with no
out-of-scope examples at all it simply returns the highest threshold that keeps the accuracy.

Plain Python: the `manage.py evaluate_nlu` command and the CLINC150 benchmark both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.types import ParseResult

OUT_OF_SCOPE_LABELS = frozenset({"oos", "out_of_scope"})


@dataclass(frozen=True, slots=True)
class ScoredExample:
    """One held-out example parsed at threshold 0: was the top intent right, and how confident."""

    expected: str | None  # None: out of scope
    predicted: str | None  # the top-ranked intent (None or out_of_scope: rejected regardless of threshold)
    confidence: float

    @property
    def in_scope(self) -> bool:
        return self.expected is not None


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    threshold: float
    accuracy: float | None  # None when there are no in-scope examples
    oos_recall: float | None  # None when there are no out-of-scope examples


def scored(expected: str | None, result: ParseResult) -> ScoredExample:
    top = result.ranking[0] if result.ranking else None
    predicted = None if top is None or top.name in OUT_OF_SCOPE_LABELS else top.name
    return ScoredExample(
        None if expected in OUT_OF_SCOPE_LABELS else expected, predicted, top.confidence if top is not None else 0.0
    )


def operating_point(examples: Sequence[ScoredExample], threshold: float) -> OperatingPoint:
    in_scope = [e for e in examples if e.in_scope]
    out_of_scope = [e for e in examples if not e.in_scope]
    accuracy = (
        sum(e.predicted == e.expected and e.confidence >= threshold for e in in_scope) / len(in_scope)
        if in_scope
        else None
    )
    recall = (
        sum(e.predicted is None or e.confidence < threshold for e in out_of_scope) / len(out_of_scope)
        if out_of_scope
        else None
    )
    return OperatingPoint(threshold, accuracy, recall)


def pick_threshold(examples: Sequence[ScoredExample], min_accuracy: float) -> OperatingPoint:
    """The rule in the module docstring. If even threshold 0 misses `min_accuracy`, returns 0 (the
    classifier itself is the problem: more or cleaner training phrases, not a threshold, will help)."""
    candidates = sorted({0.0} | {round(e.confidence, 3) for e in examples if e.in_scope})
    points = [operating_point(examples, t) for t in candidates]
    feasible = [p for p in points if p.accuracy is None or p.accuracy >= min_accuracy] or [points[0]]
    return max(feasible, key=lambda p: (p.oos_recall if p.oos_recall is not None else p.threshold, -p.threshold))


def threshold_table(examples: Sequence[ScoredExample], thresholds: Sequence[float]) -> list[OperatingPoint]:
    return [operating_point(examples, t) for t in thresholds]
