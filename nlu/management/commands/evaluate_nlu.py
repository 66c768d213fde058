"""`python manage.py evaluate_nlu <bot slug> <file> [--min-accuracy 0.95] [--apply]`.

Parses held-out examples (Rasa NLU YAML or CSV `text,intent`, the import formats; intent `oos` or
`out_of_scope` marks a message the bot should NOT answer) with the bot's current model, prints
accuracy and out-of-scope recall at a range of thresholds, and suggests the threshold that keeps
in-scope accuracy >= --min-accuracy while rejecting the most out-of-scope messages
(`engine.nlu_calibration`). `--apply` stores it on the bot.

Runs the model in this process (like the worker does); the examples must not be training phrases,
or the figures flatter the model.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from engine.nlu import NluTrainingError
from engine.nlu_calibration import pick_threshold, scored, threshold_table
from nlu.management.commands._common import bot_for_command, read_nlu_file
from nlu.services.parsing import nlu_parse

TABLE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
PROGRESS_EVERY = 500


class Command(BaseCommand):
    help = "Measure the bot's NLU on held-out examples and suggest (or --apply) a threshold."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bot_slug")
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--min-accuracy",
            type=float,
            default=0.95,
            help="in-scope accuracy the suggested threshold must keep (default 0.95)",
        )
        parser.add_argument("--apply", action="store_true", help="store the suggested threshold on the bot")

    def handle(self, *args: Any, bot_slug: str, file: Path, min_accuracy: float, apply: bool, **options: Any) -> None:
        if not 0.0 <= min_accuracy <= 1.0:
            raise CommandError("--min-accuracy must be between 0 and 1, e.g. 0.95")
        bot = bot_for_command(bot_slug)
        data = read_nlu_file(file, self.stderr, action="evaluated")
        pairs = [(text, intent) for intent, texts in data.intents.items() for text in texts]
        if not pairs:
            raise CommandError(f"{file} has no examples")
        examples = []
        try:
            for done, (text, intent) in enumerate(pairs, start=1):
                examples.append(scored(intent, nlu_parse(bot=bot, text=text, threshold=0.0)))
                if done % PROGRESS_EVERY == 0:
                    self.stderr.write(f"parsed {done}/{len(pairs)}")
                    sys.stderr.flush()
        except NluTrainingError as exc:
            raise CommandError(str(exc)) from exc

        in_scope = [e for e in examples if e.in_scope]
        self.stdout.write(
            f"{bot.slug}: {len(in_scope)} in-scope and {len(examples) - len(in_scope)} out-of-scope examples"
        )
        if in_scope:
            top1 = sum(e.predicted == e.expected for e in in_scope) / len(in_scope)
            self.stdout.write(f"top-1 accuracy (no threshold): {top1:.1%}")
        current = bot.nlu_threshold
        points = threshold_table(examples, sorted({*TABLE_THRESHOLDS, round(current, 3)}))
        suggested = pick_threshold(examples, min_accuracy)
        self.stdout.write("threshold  in-scope accuracy  out-of-scope recall")
        for point in sorted([*points, suggested], key=lambda p: p.threshold):
            marks = [
                label
                for label, value in (("current", current), ("suggested", suggested.threshold))
                if abs(point.threshold - value) < 5e-4
            ]
            self.stdout.write(
                f"{point.threshold:9.3f}  {_percent(point.accuracy):>17}  {_percent(point.oos_recall):>19}"
                f"{'  <- ' + ', '.join(marks) if marks else ''}"
            )
        if suggested.accuracy is not None and suggested.accuracy < min_accuracy:
            self.stderr.write(
                f"warning: even with no threshold the accuracy is {suggested.accuracy:.1%} < {min_accuracy:.1%}; "
                "more or clearer training phrases will help more than any threshold"
            )
        if apply:
            bot.nlu_threshold = suggested.threshold
            bot.save(update_fields=["nlu_threshold", "updated_at"])  # updated_at: the turn's spec cache key
            self.stdout.write(f"{bot.slug}: threshold set to {suggested.threshold:.3f} (was {current:.3f})")
        else:
            self.stdout.write(
                f"suggested threshold {suggested.threshold:.3f} (current {current:.3f}); --apply stores it"
            )


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
