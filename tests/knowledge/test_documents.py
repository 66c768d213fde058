"""Documents from upload to search (#13): processed in the worker's service with the real embedder,
re-synced by content, collections whose removed members disappear, failures that stay contained,
hybrid search, the REST API and the import command."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from bots.models import Bot, KnowledgeChunk, KnowledgeDocument
from bots.services.api_keys import api_key_create
from inference_worker.embedder import worker_embedder
from knowledge import selectors
from knowledge.services import documents
from tests.factories import BotFactory, UserFactory

Status = KnowledgeDocument.Status

HELP_CENTER = """# Acme help center

Welcome to the Acme shop's help pages.

## Returns

Unworn items can be returned within 45 days for a full refund. Use the prepaid label in the box.

## Shipping

### Europe

Parcels ship from Rotterdam and arrive in two to four business days.

### Canada

Orders to Canada take 5-7 business days and are free over $50. Tracking code format: XJ-4471.
"""


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    sent: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(documents, "task_send", lambda name, *args, **_: sent.append((name, args)))
    return sent


def _process(document: KnowledgeDocument) -> documents.ProcessResult | None:
    return documents.document_process(document_id=document.pk, embedder=worker_embedder())


def _upload(bot: Bot, name: str, data: bytes) -> KnowledgeDocument:
    document = documents.document_upload(bot=bot, filename=name, data=data)
    _process(document)
    document.refresh_from_db()
    return document


@pytest.mark.django_db
def test_a_markdown_file_becomes_ready_chunks_with_their_place_in_the_document(enqueued) -> None:
    bot = BotFactory()
    document = documents.document_upload(bot=bot, filename="help.md", data=HELP_CENTER.encode())
    assert document.status == Status.QUEUED
    assert enqueued == []  # sent after commit (the test's transaction never commits)
    result = _process(document)
    assert result is not None and result.status == Status.READY and result.chunks >= 3
    document.refresh_from_db()
    assert (document.status, document.title, document.source) == (Status.READY, "Acme help center", None)
    chunks = list(KnowledgeChunk.objects.filter(document=document).order_by("char_start"))
    assert len(chunks) == document.chunk_count == result.chunks
    for chunk in chunks:
        assert chunk.embedding is not None and chunk.bot_id == bot.pk
        assert document.text[chunk.char_start : chunk.char_end] == chunk.text
    canada = next(c for c in chunks if "Canada take" in c.text)
    assert canada.heading_path == ["Acme help center", "Shipping", "Canada"]


@pytest.mark.django_db
def test_the_same_file_again_costs_nothing_and_a_changed_one_replaces_its_chunks(enqueued) -> None:
    bot = BotFactory()
    first = _upload(bot, "help.md", HELP_CENTER.encode())
    before = set(KnowledgeChunk.objects.filter(document=first).values_list("pk", flat=True))
    again = documents.document_upload(bot=bot, filename="help.md", data=HELP_CENTER.encode())
    assert again.pk == first.pk and again.status == Status.READY and _process(again) is None
    assert set(KnowledgeChunk.objects.filter(document=first).values_list("pk", flat=True)) == before

    changed = _upload(bot, "help.md", HELP_CENTER.replace("45 days", "60 days").encode())
    after = set(KnowledgeChunk.objects.filter(document=changed).values_list("pk", flat=True))
    assert changed.pk == first.pk and not before & after
    assert KnowledgeChunk.objects.filter(document=changed, text__contains="60 days").exists()
    assert not KnowledgeChunk.objects.filter(bot=bot, text__contains="45 days").exists()


@pytest.mark.django_db
def test_a_jsonl_collection_keeps_unchanged_members_and_drops_removed_ones(enqueued) -> None:
    bot = BotFactory()
    lines = [
        {"id": "returns", "title": "Returns", "text": "Unworn items can be returned within 45 days."},
        {
            "id": "shipping",
            "title": "Shipping",
            "text": "Parcels arrive in two to four business days.",
            "url": "https://shop.example.com/ship",
        },
        {"id": "gift", "title": "Gift cards", "text": "Gift cards never expire."},
    ]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    collection = _upload(bot, "faq.jsonl", data)
    assert (collection.kind, collection.status) == (KnowledgeDocument.Kind.COLLECTION, Status.READY)
    members = {m.external_id: m for m in KnowledgeDocument.objects.filter(collection=collection)}
    assert (
        set(members) == {"returns", "shipping", "gift"} and members["shipping"].url == "https://shop.example.com/ship"
    )
    kept = set(KnowledgeChunk.objects.filter(document=members["returns"]).values_list("pk", flat=True))

    lines[1]["text"] = "Parcels arrive in three business days."
    del lines[2]
    _upload(bot, "faq.jsonl", "\n".join(json.dumps(line) for line in lines).encode())
    members = {m.external_id: m for m in KnowledgeDocument.objects.filter(collection=collection)}
    assert set(members) == {"returns", "shipping"}
    assert set(KnowledgeChunk.objects.filter(document=members["returns"]).values_list("pk", flat=True)) == kept
    assert not KnowledgeChunk.objects.filter(bot=bot, text__contains="Gift cards").exists()
    assert KnowledgeChunk.objects.filter(document=members["shipping"], text__contains="three business").exists()


@pytest.mark.django_db
def test_a_broken_file_fails_with_its_reason_and_the_others_are_untouched(enqueued) -> None:
    bot = BotFactory()
    good = _upload(bot, "help.md", HELP_CENTER.encode())
    broken = _upload(bot, "manual.pdf", b"%PDF-1.7 this is not really a pdf")
    assert broken.status == Status.FAILED and broken.error and broken.source is None
    assert not KnowledgeChunk.objects.filter(document=broken).exists()
    assert KnowledgeChunk.objects.filter(document=good).count() == good.chunk_count > 0
    with pytest.raises(documents.DocumentRejected, match="empty"):
        documents.document_upload(bot=bot, filename="empty.md", data=b"")


@pytest.mark.django_db
def test_hybrid_search_finds_meaning_and_exact_codes(enqueued) -> None:
    bot = BotFactory()
    _upload(bot, "help.md", HELP_CENTER.encode())
    other = BotFactory()
    _upload(other, "other.md", b"# Other\n\nOrders to Canada are never shipped by this other shop.")
    by_meaning = selectors.knowledge_search(bot=bot, query="delivery time to Canada", k=3)
    assert "Canada" in by_meaning[0].text and by_meaning[0].document_title == "Acme help center"
    by_code = selectors.knowledge_search(bot=bot, query="XJ-4471", k=3)
    assert "XJ-4471" in by_code[0].text  # a code means nothing to the embedding; full text finds it
    assert all(
        hit.chunk_id in set(KnowledgeChunk.objects.filter(bot=bot).values_list("pk", flat=True)) for hit in by_meaning
    )
    assert not any(hit.text.strip() == "Shipping" for hit in by_meaning)  # a bare heading is no passage
    assert selectors.knowledge_retrieve(bot=bot, text="recommend a sci-fi novel about dragons") == []
    passages = selectors.knowledge_retrieve(bot=bot, text="how long do I have to send back a jacket?")
    assert passages and "45 days" in passages[0].text


def _admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_the_documents_api_uploads_lists_and_deletes(enqueued) -> None:
    bot = BotFactory()
    client = _admin_client()
    url = f"/api/v1/bots/{bot.slug}/knowledge/documents"
    upload = io.BytesIO(HELP_CENTER.encode())
    upload.name = "help.md"
    junk = io.BytesIO(b"MZ\x90\x00binary")
    junk.name = "tool.exe"
    response = client.post(url, {"file": [upload, junk]})
    assert response.status_code == 202, response.content
    body = response.json()
    assert [d["filename"] for d in body["documents"]] == ["help.md"]
    assert body["documents"][0]["status"] == "queued"
    assert [r["filename"] for r in body["refused"]] == ["tool.exe"] and "Unsupported" in body["refused"][0]["detail"]
    assert enqueued == [] and not KnowledgeDocument.objects.filter(filename="tool.exe").exists()
    document = KnowledgeDocument.objects.get(bot=bot, filename="help.md")
    _process(document)
    listed = client.get(url).json()
    assert [(d["filename"], d["status"]) for d in listed["results"]] == [("help.md", "ready")]
    assert listed["results"][0]["chunk_count"] > 0 and listed["results"][0]["members"] is None
    assert client.delete(f"{url}/{document.pk}").status_code == 204
    assert not KnowledgeChunk.objects.filter(bot=bot, document_id=document.pk).exists()

    analyst = Client()
    analyst.force_login(UserFactory(is_staff=True))
    assert analyst.get(url).status_code == 403
    assert client.post(url, {}).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_the_search_api_answers_with_ranked_chunks_for_a_key_of_the_bot(celery_worker) -> None:
    bot = BotFactory()
    _upload(bot, "help.md", HELP_CENTER.encode())
    _, key = api_key_create(name="search", bots=[bot])
    client = Client()
    response = client.post(
        f"/api/v1/bots/{bot.slug}/knowledge/search",
        {"query": "returns within how many days?", "k": 2},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert 1 <= len(results) <= 2 and "45 days" in results[0]["text"]
    assert set(results[0]) == {"document", "chunk_id", "text", "heading_path", "score", "similarity"}
    assert results[0]["document"]["title"] == "Acme help center"
    _, other_key = api_key_create(name="other", bots=[BotFactory()])
    refused = client.post(
        f"/api/v1/bots/{bot.slug}/knowledge/search",
        {"query": "returns"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {other_key}",
    )
    assert refused.status_code == 403


@pytest.mark.django_db
def test_the_import_command_walks_folders_and_reports_progress(tmp_path: Path, capsys) -> None:
    bot = BotFactory()
    (tmp_path / "nested").mkdir()
    (tmp_path / "help.md").write_text(HELP_CENTER)
    (tmp_path / "nested" / "faq.csv").write_text(
        "question,answer\nDo gift cards expire?,Never.\nCan I pay by invoice?,Yes.\n"
    )
    (tmp_path / "nested" / "notes.bin").write_bytes(b"\x00\x01")  # not an importable suffix: skipped
    call_command("knowledge_import", bot.slug, str(tmp_path))
    out = capsys.readouterr().out
    assert "help.md: ready" in out and "faq.csv: ready, 2 documents" in out and "2 of 2 files ready" in out
    call_command("knowledge_import", bot.slug, str(tmp_path / "help.md"))
    assert "help.md: unchanged" in capsys.readouterr().out
