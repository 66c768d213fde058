"""`python manage.py export_nlu <bot slug> <file>`: writes Rasa NLU YAML (.yml/.yaml) or CSV (.csv)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from nlu.formats import NluFormatError, format_for_path
from nlu.management.commands._common import bot_for_command
from nlu.services.imports import nlu_data_export


class Command(BaseCommand):
    help = "Export a bot's NLU training data as Rasa NLU YAML or CSV (text,intent; no entities)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bot_slug")
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, bot_slug: str, file: Path, **options: Any) -> None:
        bot = bot_for_command(bot_slug)
        try:
            fmt = format_for_path(file)
        except NluFormatError as exc:
            raise CommandError(str(exc)) from exc
        content = nlu_data_export(bot=bot, fmt=fmt)
        # Write beside and rename: a failed export never leaves a truncated file behind.
        partial = file.with_name(file.name + ".partial")
        partial.write_text(content, encoding="utf-8")
        partial.replace(file)
        self.stdout.write(f"wrote {file}")
