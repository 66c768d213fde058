"""Apply the bots' retention periods now: `manage.py retention --dry-run` counts, without it deletes."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from privacy.services.retention import retention_apply


class Command(BaseCommand):
    help = "Delete conversations older than their bot's retention period (--dry-run: only count them)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        runs = retention_apply(dry_run=options["dry_run"])
        if not runs:
            self.stdout.write("No bot has a retention period: nothing to do.")
        verb = "would delete" if options["dry_run"] else "deleted"
        for run in runs:
            parts = ", ".join(f"{n} {kind}" for kind, n in run.deleted.items())
            self.stdout.write(f"{run.bot.slug}: keeps {run.keep_days} days; {verb} {parts}")
