"""Helpers shared by the management commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from bots.models import Bot
from nlu.formats import NluData, NluFormatError, format_for_path, parse_nlu


def bot_for_command(slug: str) -> Bot:
    """The bot with this slug, or a CommandError that names it (no traceback for a typo)."""
    try:
        return Bot.objects.get(slug=slug)
    except Bot.DoesNotExist:
        raise CommandError(f"no bot with slug {slug!r}") from None


def read_nlu_file(file: Path, stderr: Any, *, action: str) -> NluData:
    """Parse a Rasa NLU YAML or CSV file; every error is written to `stderr` as `file:line: message`
    before one CommandError saying that nothing was `action` (e.g. "imported")."""
    try:
        fmt = format_for_path(file)
        content = file.read_text(encoding="utf-8-sig")
    except NluFormatError as exc:
        raise CommandError(str(exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {file}: {exc}") from exc
    try:
        return parse_nlu(content, fmt)
    except NluFormatError as exc:
        for line, message in exc.errors:
            stderr.write(f"{file}:{line}: {message}")
        raise CommandError(f"{len(exc.errors)} error(s) in {file}; nothing was {action}") from exc
