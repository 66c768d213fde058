"""The knowledge base's full-text side over Chinese (issue #16), and the migration that segments the
rows stored before it (bots/migrations/0013_search_tokens.py)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps

from bots.models import Bot, KnowledgeChunk, KnowledgeDocument, Message
from inference_worker.embedder import worker_embedder
from knowledge import selectors
from knowledge.services import documents
from tests.factories import BotFactory, ConversationFactory

pytestmark = pytest.mark.django_db

RETURNS_ZH = "我们的退货政策：未穿过的衣服可以在四十五天内退货并全额退款。"
SHIPPING_ZH = "包裹从鹿特丹发货，两到四个工作日送达。"
HELP_ZH = f"""# 帮助中心

## 退货

{RETURNS_ZH}

## 配送

{SHIPPING_ZH}
"""

migration = importlib.import_module("bots.migrations.0013_search_tokens")


def _full_text(bot: Bot, query: str) -> list[int]:
    return selectors.full_text_ranked(KnowledgeChunk.objects.filter(bot=bot), query)


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    sent: list[tuple[str, tuple[Any, ...]]] = []
    monkeypatch.setattr(documents, "task_send", lambda name, *args, **_: sent.append((name, args)))
    return sent


def test_a_chinese_word_finds_a_chunk_typed_in_the_admin() -> None:
    bot = BotFactory()
    returns = KnowledgeChunk.objects.create(bot=bot, title="退货政策", text=RETURNS_ZH)
    shipping = KnowledgeChunk.objects.create(bot=bot, title="配送", text=SHIPPING_ZH)
    english = KnowledgeChunk.objects.create(bot=bot, title="Returns", text="Unworn items can be returned.")
    assert _full_text(bot, "退款") == [returns.pk]
    assert _full_text(bot, "多久能发货？") == [shipping.pk]
    assert _full_text(bot, "政策") == [returns.pk]  # from the title
    assert _full_text(bot, "发票") == []
    # Any word, as before; the function words (的, 是, 什么) are not what a passage is found by.
    assert _full_text(bot, "你们的退货政策是什么") == [returns.pk]
    assert _full_text(bot, "returning items") == [english.pk]  # English stemming is unchanged
    assert english.search_tokens == ""


def test_an_uploaded_chinese_document_is_found_by_full_text_and_hybrid_search(enqueued) -> None:
    bot = BotFactory()
    document = documents.document_upload(bot=bot, filename="帮助.md", data=HELP_ZH.encode())
    documents.document_process(document_id=document.pk, embedder=worker_embedder())
    document.refresh_from_db()
    assert document.status == KnowledgeDocument.Status.READY
    (returns,) = [c for c in KnowledgeChunk.objects.filter(bot=bot) if "退款" in c.text]
    assert "退款" in returns.search_tokens.split()  # bulk_create filled it
    assert _full_text(bot, "退款")[0] == returns.pk
    hits = selectors.knowledge_search(bot=bot, query="退款", k=3)
    assert hits and hits[0].chunk_id == returns.pk


def test_the_migration_backfills_rows_stored_without_tokens() -> None:
    bot = BotFactory()
    chunk = KnowledgeChunk.objects.create(bot=bot, title="退货政策", text=RETURNS_ZH)
    english_chunk = KnowledgeChunk.objects.create(bot=bot, title="Returns", text="Unworn items can be returned.")
    conversation = ConversationFactory(bot=bot)
    message = Message.objects.create(conversation=conversation, seq=1, role=Message.Role.USER, text="我的订单在哪里")
    english = Message.objects.create(conversation=conversation, seq=2, role=Message.Role.BOT, text="Let me check.")
    # As stored before the migration: the column's default, and only the text indexed.
    KnowledgeChunk.objects.filter(bot=bot).update(search_tokens="")
    Message.objects.filter(conversation=conversation).update(search_tokens="")
    assert _full_text(bot, "退款") == []

    migration.search_tokens_backfill(apps, None)
    migration.search_tokens_backfill(apps, None)  # a second run finds nothing left to do

    chunk.refresh_from_db()
    message.refresh_from_db()
    assert "退款" in chunk.search_tokens.split() and "政策" in chunk.search_tokens.split()
    assert message.search_tokens == "我 的 订单 在 哪里"
    assert KnowledgeChunk.objects.get(pk=english_chunk.pk).search_tokens == ""
    assert Message.objects.get(pk=english.pk).search_tokens == ""
    assert _full_text(bot, "退款") == [chunk.pk]


def test_the_backfill_walks_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migration, "BACKFILL_BATCH", 2)
    conversation = ConversationFactory(bot=BotFactory())
    for seq in range(1, 6):
        Message.objects.create(conversation=conversation, seq=seq, role=Message.Role.USER, text=f"第{seq}个订单")
    Message.objects.filter(conversation=conversation).update(search_tokens="")
    migration.search_tokens_backfill(apps, None)
    tokens = list(Message.objects.filter(conversation=conversation).values_list("search_tokens", flat=True))
    assert len(tokens) == 5 and all("订单" in t.split() for t in tokens)
