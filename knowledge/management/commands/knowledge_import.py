"""python manage.py knowledge_import <bot slug> <file or folder>... [--queue]"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bots.models import Bot, KnowledgeDocument
from inference_worker.embedder import worker_embedder
from knowledge.ingestion.parsers import SUPPORTED_SUFFIXES
from knowledge.ingestion.types import DocumentRejected
from knowledge.services.documents import document_process, document_upload

Status = KnowledgeDocument.Status
DONE = (Status.READY, Status.FAILED)


class Command(BaseCommand):
    help = (
        "Import files into a bot's knowledge base: Markdown, text, HTML, PDF, DOCX, JSONL of documents, "
        "CSV of FAQ pairs, ZIP of them; folders are walked. Files already imported are re-synced "
        "(unchanged ones cost nothing). Processed here, with progress; --queue hands them to the workers "
        "and waits."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bot_slug")
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--queue", action="store_true", help="Let the Celery workers process the files.")
        parser.add_argument("--wait", type=float, default=900, help="With --queue: seconds to wait (default 900).")

    def handle(self, *args: Any, **options: Any) -> None:
        bot = Bot.objects.filter(slug=options["bot_slug"]).first()
        if bot is None:
            raise CommandError(f"unknown bot slug: {options['bot_slug']}")
        files = _files(options["paths"])
        if not files:
            raise CommandError(f"no importable files (suffixes: {', '.join(sorted(SUPPORTED_SUFFIXES))})")
        process_here = not options["queue"]
        documents = []
        for path in files:
            try:
                documents.append(
                    document_upload(bot=bot, filename=path.name, data=path.read_bytes(), enqueue=not process_here)
                )
            except DocumentRejected as exc:
                self.stderr.write(f"skipped {path}: {exc.reason}")
        failed = self._process_here(documents) if process_here else self._wait_for_workers(documents, options["wait"])
        ready = len(documents) - failed
        self.stdout.write(f"{ready} of {len(files)} files ready in {bot.slug}'s knowledge base")
        if failed:
            raise CommandError(f"{failed} file(s) failed (reasons above)")

    def _process_here(self, documents: list[KnowledgeDocument]) -> int:
        embedder = worker_embedder()
        failed = 0
        started = time.monotonic()
        for index, document in enumerate(documents, start=1):
            result = document_process(document_id=document.pk, embedder=embedder)
            if result is None:  # unchanged since the last import
                self.stdout.write(f"[{index}/{len(documents)}] {document.filename}: unchanged")
                continue
            if result.status == Status.FAILED:
                failed += 1
                self.stderr.write(f"[{index}/{len(documents)}] {document.filename}: failed: {result.error}")
                continue
            members = f", {result.documents} documents" if result.documents != 1 else ""
            self.stdout.write(
                f"[{index}/{len(documents)}] {document.filename}: ready{members}, {result.chunks} chunks "
                f"({time.monotonic() - started:.1f} s)"
            )
        return failed

    def _wait_for_workers(self, documents: list[KnowledgeDocument], wait_s: float) -> int:
        deadline = time.monotonic() + wait_s
        pending = {d.pk for d in documents}
        seen: dict[int, str] = {}
        failed = 0
        while pending:
            if time.monotonic() > deadline:
                raise CommandError(f"{len(pending)} file(s) still processing after {wait_s:g} s; is a worker running?")
            for document in KnowledgeDocument.objects.filter(pk__in=pending).defer("source", "text"):
                if seen.get(document.pk) != document.status:
                    seen[document.pk] = document.status
                    detail = f": {document.error}" if document.error else ""
                    self.stdout.write(f"{document.filename}: {document.status}{detail}")
                if document.status in DONE:
                    pending.discard(document.pk)
                    failed += document.status == Status.FAILED
            time.sleep(0.5)
        return failed


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise CommandError(f"no such file or folder: {path}")
    return found
