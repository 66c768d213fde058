"""`python manage.py import_nlu <bot slug> <file> [--replace] [--train]`: Rasa NLU YAML or CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nlu.management.commands._common import bot_for_command, read_nlu_file
from nlu.services.imports import NluImportError, nlu_data_import
from nlu.services.training import nlu_model_train_stages

# Above this many examples the import takes long enough to be worth saying what is happening.
PROGRESS_THRESHOLD = 2000


class Command(BaseCommand):
    help = "Import NLU training data (Rasa NLU YAML or CSV text,intent) into a bot. All or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bot_slug")
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Remove training phrases that are not in the file (intents are kept).",
        )
        parser.add_argument("--train", action="store_true", help="Train the classifier right after importing.")

    def handle(self, *args: Any, bot_slug: str, file: Path, replace: bool, train: bool, **options: Any) -> None:
        bot = bot_for_command(bot_slug)
        data = read_nlu_file(file, self.stderr, action="imported")

        large = data.example_count >= PROGRESS_THRESHOLD
        if large:
            self._progress(f"parsed {data.example_count} examples in {len(data.intents)} intents; importing...")
        try:
            report = nlu_data_import(bot=bot, source=data, replace=replace)
        except NluImportError as exc:
            raise CommandError(f"{exc}; nothing was imported") from exc
        for warning in report.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(
            f"{bot.slug}: {report.phrases_added} phrases added, {report.phrases_unchanged} unchanged, "
            f"{report.phrases_removed} removed, {report.intents_created} intents created, "
            f"{report.entity_types_created} entity types created; data version {report.data_version}"
        )
        if train:
            if large:
                self._progress("training the classifier (the fine-tuned stage can take minutes)...")
            for model in nlu_model_train_stages(bot=bot):
                self.stdout.write(
                    f"trained the {model.strategy} model for data version {model.data_version} "
                    f"in {model.metrics.get('train_seconds', '?')} s"
                )

    def _progress(self, message: str) -> None:
        # stderr, so `import_nlu ... > report.txt` keeps only the result.
        self.stderr.write(message)
        sys.stderr.flush()
