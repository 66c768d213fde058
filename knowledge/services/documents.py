"""A bot's documents, from upload to searchable chunks.

1. `document_upload` (web, API, CLI): store the file as a queued document and, after commit, hand
   it to the worker. The same file name again is a re-sync: unchanged content costs nothing;
   changed content replaces the document's chunks.
2. `document_process` (worker): parse (knowledge.ingestion), chunk with the embedding model's own
   tokenizer, embed, store the chunks; the document's status says where it is (queued, parsing,
   embedding, ready, failed with the reason). A file of many documents (zip, JSONL, CSV of FAQ
   pairs) becomes a collection whose members are documents of their own; a member gone from the
   new file is deleted with its chunks.

Bad input fails its own document with a reason and never the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePath

import structlog
from django.db import transaction

from bots.models import Bot, KnowledgeChunk, KnowledgeDocument
from chatplatform.celery import task_send
from engine.embeddings import SentenceEmbedder
from engine.segmentation import index_tokens
from knowledge.ingestion.chunking import chunk_document
from knowledge.ingestion.parsers import MAX_FILE_BYTES, SUPPORTED_SUFFIXES, parse_file
from knowledge.ingestion.types import DocumentRejected, ParsedDocument

log = structlog.get_logger(__name__)

KNOWLEDGE_DOCUMENT_TASK = "knowledge.document_process"
COLLECTION_SUFFIXES = frozenset({".zip", ".jsonl", ".csv"})
CHUNK_MAX_TOKENS = 200  # all-MiniLM-L6-v2 reads 256 word pieces: room for the title line
CHUNK_OVERLAP_TOKENS = 40
EMBED_BATCH = 64
Status = KnowledgeDocument.Status


@dataclass(frozen=True)
class ProcessResult:
    document_id: int
    status: str
    chunks: int
    documents: int  # 1, or a collection's members
    error: str = ""


def document_upload(*, bot: Bot, filename: str, data: bytes, enqueue: bool = True) -> KnowledgeDocument:
    """Store an upload and queue it for the worker (`enqueue=False`: the caller processes it, as
    the import command does). Raises DocumentRejected for an empty or oversized file (nothing is
    stored)."""
    name = PurePath(filename.replace("\\", "/")).name.strip()[:300]
    if not name:
        raise DocumentRejected("The file has no name; the name's extension says its format.")
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentRejected(
            f"Unsupported file type {suffix or '(no suffix)'}; use Markdown, text, HTML, PDF, DOCX, "
            "JSONL, CSV (FAQ) or ZIP."
        )
    if not data:
        raise DocumentRejected(f"{name} is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise DocumentRejected(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MB.")
    content_hash = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        document, created = KnowledgeDocument.objects.select_for_update().get_or_create(
            bot=bot, filename=name, external_id="", collection=None, defaults={"title": PurePath(name).stem}
        )
        if not created and document.content_hash == content_hash and document.status != Status.FAILED:
            return document  # the same content again: nothing to redo
        document.source = data
        document.content_hash = content_hash
        document.status = Status.QUEUED
        document.error = ""
        document.save(update_fields=["source", "content_hash", "status", "error", "updated_at"])
        document_id = document.pk
        if enqueue:
            transaction.on_commit(lambda: task_send(KNOWLEDGE_DOCUMENT_TASK, document_id))
    log.info("knowledge_document_uploaded", bot=bot.slug, document_id=document.pk, filename=name, bytes=len(data))
    return document


def document_delete(*, document: KnowledgeDocument) -> None:
    """Delete a document with its chunks (and a collection with its members)."""
    log.info("knowledge_document_deleted", document_id=document.pk, bot_id=document.bot_id)
    document.delete()


def document_process(
    *,
    document_id: int,
    embedder: SentenceEmbedder,
    progress: Callable[[KnowledgeDocument], None] | None = None,
) -> ProcessResult | None:
    """Parse, chunk, embed and store one uploaded document (or collection). None when there is
    nothing to do (deleted meanwhile, or already processed by a redelivered task)."""
    document = KnowledgeDocument.objects.filter(pk=document_id).select_related("bot").first()
    if document is None or document.source is None:
        return None
    _status(document, Status.PARSING)
    try:
        parsed = parse_file(document.filename, bytes(document.source))
    except DocumentRejected as exc:
        return _fail(document, exc.reason)
    if PurePath(document.filename).suffix.lower() in COLLECTION_SUFFIXES:
        return _collection_index(document, parsed, embedder=embedder, progress=progress)
    if len(parsed) != 1:
        return _fail(document, f"{document.filename} held {len(parsed)} documents; expected one.")
    chunks = _document_index(document, parsed[0], embedder=embedder, progress=progress)
    return ProcessResult(document_id=document.pk, status=Status.READY, chunks=chunks, documents=1)


def _collection_index(
    collection: KnowledgeDocument,
    parsed: list[ParsedDocument],
    *,
    embedder: SentenceEmbedder,
    progress: Callable[[KnowledgeDocument], None] | None,
) -> ProcessResult:
    collection.kind = KnowledgeDocument.Kind.COLLECTION
    collection.save(update_fields=["kind", "updated_at"])
    seen: set[str] = set()
    total = 0
    for index, item in enumerate(parsed):
        external_id = (item.external_id or f"#{index + 1}")[:300]
        if external_id in seen:
            external_id = f"{external_id[:290]} #{index + 1}"
        seen.add(external_id)
        member, _ = KnowledgeDocument.objects.get_or_create(
            bot=collection.bot,
            collection=collection,
            external_id=external_id,
            defaults={"filename": collection.filename},
        )
        if member.status == Status.READY and member.content_hash == _text_hash(item):
            total += member.chunk_count
            continue  # unchanged since the last import
        member.content_hash = _text_hash(item)
        total += _document_index(member, item, embedder=embedder, progress=progress)
    stale = KnowledgeDocument.objects.filter(collection=collection).exclude(external_id__in=seen)
    removed, _ = stale.delete()
    collection.source = None
    collection.chunk_count = total
    collection.status = Status.READY
    collection.save(update_fields=["source", "chunk_count", "status", "updated_at"])
    log.info("knowledge_collection_ready", document_id=collection.pk, members=len(seen), chunks=total, removed=removed)
    return ProcessResult(document_id=collection.pk, status=Status.READY, chunks=total, documents=len(seen))


def _document_index(
    document: KnowledgeDocument,
    parsed: ParsedDocument,
    *,
    embedder: SentenceEmbedder,
    progress: Callable[[KnowledgeDocument], None] | None,
) -> int:
    """Replace the document's chunks with those of `parsed`; returns how many."""
    document.title = (parsed.title or document.title or PurePath(document.filename).stem)[:300]
    document.url = parsed.url[:1000]
    document.text = parsed.text
    document.kind = KnowledgeDocument.Kind.FAQ if parsed.kind == "faq" else KnowledgeDocument.Kind.DOCUMENT
    _status(document, Status.EMBEDDING, extra=["title", "url", "text", "kind", "content_hash"])
    if progress is not None:
        progress(document)
    chunks = chunk_document(
        parsed, count_tokens=embedder.count_tokens, max_tokens=CHUNK_MAX_TOKENS, overlap_tokens=CHUNK_OVERLAP_TOKENS
    )
    rows = [
        KnowledgeChunk(
            bot_id=document.bot_id,
            document=document,
            title=document.title,
            source_url=document.url,
            text=chunk.text,
            heading_path=list(chunk.heading_path),
            char_start=chunk.start,
            char_end=chunk.end,
            search_tokens=index_tokens(document.title, chunk.text),  # bulk_create skips KnowledgeChunk.save()
        )
        for chunk in chunks
    ]
    for batch in _batches(rows, EMBED_BATCH):
        faq = document.kind == KnowledgeDocument.Kind.FAQ
        vectors = embedder.encode([embedding_text(row, faq=faq) for row in batch])
        for row, vector in zip(batch, vectors, strict=True):
            row.embedding = vector.tolist()
    with transaction.atomic():  # the old chunks go in the same commit the new ones arrive
        KnowledgeChunk.objects.filter(document=document).delete()
        KnowledgeChunk.objects.bulk_create(rows, batch_size=500)
        document.source = None
        document.chunk_count = len(rows)
        _status(document, Status.READY, extra=["source", "chunk_count"])
    if progress is not None:
        progress(document)
    return len(rows)


def embedding_text(chunk: KnowledgeChunk, *, faq: bool = False) -> str:
    """What is embedded for a chunk: its document's title and headings give a passage its topic.

    A curated FAQ embeds its question alone, so that the similarity retrieval reports is how close
    the visitor's question is to that question: the measure the verbatim FAQ answer is gated on.
    """
    if faq:
        return chunk.title
    headings = " > ".join(h for h in chunk.heading_path if h and h != chunk.title)
    head = f"{chunk.title} > {headings}" if headings else chunk.title
    return f"{head}\n{chunk.text}" if head else chunk.text


def _fail(document: KnowledgeDocument, reason: str) -> ProcessResult:
    document.error = reason[:500]
    document.source = None
    _status(document, Status.FAILED, extra=["error", "source"])
    log.warning("knowledge_document_failed", document_id=document.pk, reason=reason)
    return ProcessResult(document_id=document.pk, status=Status.FAILED, chunks=0, documents=0, error=document.error)


def _status(document: KnowledgeDocument, status: str, *, extra: Iterable[str] = ()) -> None:
    document.status = status
    document.save(update_fields=["status", "updated_at", *extra])


def _text_hash(parsed: ParsedDocument) -> str:
    digest = hashlib.sha256()
    for part in (parsed.title, parsed.url, parsed.kind, parsed.text):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _batches(rows: list[KnowledgeChunk], size: int) -> Iterable[list[KnowledgeChunk]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
