"""Threshold calibration (plain Python, no model)."""

from __future__ import annotations

import pytest

from engine.nlu_calibration import ScoredExample, operating_point, pick_threshold, scored
from engine.types import IntentScore, ParseResult


def example(expected: str | None, predicted: str | None, confidence: float) -> ScoredExample:
    return ScoredExample(expected, predicted, confidence)


EXAMPLES = [
    example("a", "a", 0.9),
    example("a", "a", 0.8),
    example("b", "b", 0.7),
    example("b", "a", 0.6),  # one wrong
    example("b", "b", 0.4),
    example(None, "a", 0.5),
    example(None, "b", 0.3),
    example(None, None, 0.9),  # out of scope; one rejected by the model
]


def test_operating_point_counts_below_threshold_as_wrong_and_as_rejected() -> None:
    point = operating_point(EXAMPLES, 0.45)
    assert point.accuracy == pytest.approx(3 / 5)  # 0.9, 0.8, 0.7 right; 0.6 wrong intent; 0.4 below
    assert point.oos_recall == pytest.approx(2 / 3)  # 0.3 below threshold, and the one the model rejected


def test_pick_threshold_keeps_accuracy_then_maximises_recall() -> None:
    strict = pick_threshold(EXAMPLES, 0.8)  # up to 0.4 keeps 4/5; 0.4 also rejects the 0.3 oos message
    assert (strict.threshold, strict.accuracy, strict.oos_recall) == (0.4, 0.8, pytest.approx(2 / 3))
    assert pick_threshold(EXAMPLES, 0.99).threshold == 0.0  # unreachable: no threshold, not a worse one
    best = pick_threshold(EXAMPLES, 0.6)  # 0.4 < t <= 0.7 keeps 3/5; t > 0.5 rejects both oos
    assert best.accuracy == pytest.approx(0.6) and best.oos_recall == pytest.approx(1.0)
    assert best.threshold == 0.6  # the lowest candidate with that recall (candidates are in-scope confidences)


def test_without_out_of_scope_examples_the_highest_threshold_that_keeps_accuracy_wins() -> None:
    in_scope = [e for e in EXAMPLES if e.expected is not None]
    point = pick_threshold(in_scope, 0.6)
    assert point.threshold == 0.7 and point.oos_recall is None


def test_scored_maps_oos_labels_and_out_of_scope_predictions() -> None:
    result = ParseResult(
        text="x", intent=None, ranking=[IntentScore("out_of_scope", 0.8), IntentScore("a", 0.1)], entities=[]
    )
    assert scored("oos", result) == ScoredExample(None, None, 0.8)
    assert scored("a", ParseResult(text="x", intent=None, ranking=[], entities=[])) == ScoredExample("a", None, 0.0)
