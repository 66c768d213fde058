"""python manage.py create_api_key <name> (--bots a,b | --all-bots): prints the key once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bots.models import Bot
from bots.services.api_keys import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key for the OpenAI-compatible and parse APIs, scoped to some bots (--bots) or to "
        "every bot (--all-bots). The key is printed once and stored hashed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--bots", default="", help="Comma-separated bot slugs the key may use.")
        # Explicit on purpose: an empty --bots used to mean "every bot", and a key whose bots were
        # all deleted then silently reached every bot (issue #9).
        scope.add_argument(
            "--all-bots", action="store_true", help="The key may use every active bot, including bots created later."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slugs = [s.strip() for s in options["bots"].split(",") if s.strip()]
        if not slugs and not options["all_bots"]:
            raise CommandError("say which bots the key may use: --bots slug1,slug2 or --all-bots")
        bots = list(Bot.objects.filter(slug__in=slugs))
        missing = set(slugs) - {b.slug for b in bots}
        if missing:
            raise CommandError(f"unknown bot slug(s): {', '.join(sorted(missing))}")
        api_key, raw_key = api_key_create(name=options["name"], bots=bots, all_bots=options["all_bots"])
        self.stderr.write(
            f"Created API key {api_key.name!r} for {', '.join(slugs) or 'every bot'}. "
            "Store it now: it is not shown again."
        )
        self.stdout.write(raw_key)
