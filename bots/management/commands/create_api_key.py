"""python manage.py create_api_key <name> [--bots a,b]: prints the key once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bots.models import Bot
from bots.services.api_keys import api_key_create


class Command(BaseCommand):
    help = "Create an API key for the OpenAI-compatible API. The key is printed once and stored hashed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--bots", default="", help="Comma-separated bot slugs (default: every bot).")

    def handle(self, *args: Any, **options: Any) -> None:
        slugs = [s.strip() for s in options["bots"].split(",") if s.strip()]
        bots = list(Bot.objects.filter(slug__in=slugs))
        missing = set(slugs) - {b.slug for b in bots}
        if missing:
            raise CommandError(f"unknown bot slug(s): {', '.join(sorted(missing))}")
        api_key, raw_key = api_key_create(name=options["name"], bots=bots)
        self.stderr.write(f"Created API key {api_key.name!r} for {', '.join(slugs) or 'every bot'}. "
                          "Store it now: it is not shown again.")
        self.stdout.write(raw_key)
