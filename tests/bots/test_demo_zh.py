"""The demo bot's Chinese twin: the English bot's intents in Simplified Chinese, its help center,
its agent team, seeded by `seed_demo` (idempotent)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from bots.models import AgentTeam, Bot, FormSlot, Intent, KnowledgeDocument, TrainingPhrase
from bots.services.demo import DEMO_HANDOFF_INTENT, DEMO_INTENTS, DEMO_SLUG, DEMO_TEAM_NAME
from bots.services.demo_zh import (
    DEMO_HELP_CENTER_ZH,
    DEMO_ZH_HANDOFF_INTENT,
    DEMO_ZH_INTENTS,
    DEMO_ZH_SLUG,
    demo_bot_zh_ensure,
)
from engine.nlu import IntentParser, TrainingExample, train
from inference_worker.embedder import worker_embedder

pytestmark = pytest.mark.django_db

ENGLISH_INTENTS = {spec["name"] for spec in [*DEMO_INTENTS, DEMO_HANDOFF_INTENT]}


def _han(text: str) -> int:
    return sum(1 for character in text if "\u4e00" <= character <= "\u9fff")


def _chinese(text: str) -> bool:
    return _han(text) > 0


def _seed(tmp_path: Path) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo",
        "--credentials-file",
        str(tmp_path / "admin.txt"),
        "--agent-credentials-file",
        str(tmp_path / "agent.txt"),
        stdout=out,
    )
    return out.getvalue()


def test_seed_demo_seeds_the_twin_once(tmp_path: Path) -> None:
    first = _seed(tmp_path)
    bot = Bot.objects.get(slug=DEMO_ZH_SLUG)
    counts = (Intent.objects.filter(bot=bot).count(), TrainingPhrase.objects.filter(intent__bot=bot).count())
    documents = KnowledgeDocument.objects.filter(bot=bot).count()
    version = bot.nlu_data_version
    second = _seed(tmp_path)
    assert Bot.objects.filter(slug=DEMO_ZH_SLUG).count() == 1
    assert (Intent.objects.filter(bot=bot).count(), TrainingPhrase.objects.filter(intent__bot=bot).count()) == counts
    assert KnowledgeDocument.objects.filter(bot=bot).count() == documents
    assert FormSlot.objects.filter(intent__bot=bot).count() == 1
    bot.refresh_from_db()
    assert bot.nlu_data_version == version >= 2  # retrained once after it was made, not on a rerun
    # Printed next to the English bot, with its own widget demo page.
    for output in (first, second):
        assert f"slug {DEMO_SLUG}," in output and f"slug {DEMO_ZH_SLUG}," in output
        assert f"/demo/?bot={DEMO_ZH_SLUG}" in output
    # The same agent team answers both bots.
    team = AgentTeam.objects.get(name=DEMO_TEAM_NAME)
    assert set(team.bots.values_list("slug", flat=True)) == {DEMO_SLUG, DEMO_ZH_SLUG}


def test_the_twin_has_every_english_intent_in_chinese() -> None:
    bot = demo_bot_zh_ensure(extra_origins=["https://shop.example.com"])
    assert bot.language == Bot.Language.CHINESE and "https://shop.example.com" in bot.allowed_origins
    for text in (bot.name, bot.persona, bot.greeting, bot.fallback_text, bot.handoff_text, bot.no_answer_text):
        assert _chinese(text), text
    intents = {intent.name: intent for intent in Intent.objects.filter(bot=bot)}
    assert set(intents) == ENGLISH_INTENTS
    english = {spec["name"]: spec for spec in [*DEMO_INTENTS, DEMO_HANDOFF_INTENT]}
    for name, intent in intents.items():
        phrases = list(intent.training_phrases.values_list("text", flat=True))
        assert 8 <= len(phrases) <= 15 and len(set(phrases)) == len(phrases), name
        assert all(_chinese(p) for p in phrases), name
        assert intent.response_mode == english[name].get("mode", Intent.ResponseMode.TEMPLATE)
        responses = list(intent.responses.all())
        assert len(responses) == len(english[name]["responses"]), name
        for response in responses:
            assert _chinese(response.text), name
            assert all(_chinese(q) for q in response.quick_replies), name
        slots = [(s.name, s.entity) for s in intent.form_slots.all()]
        assert slots == [(n, e) for n, e, _prompt in english[name].get("slots", [])], name
        assert all(_chinese(s.prompt) for s in intent.form_slots.all()), name
    assert intents["complaint"].hands_off
    assert not Intent.objects.filter(bot=bot, hands_off=True).exclude(name="complaint").exists()


def test_the_chinese_help_center_covers_the_english_topics() -> None:
    english = {p.name for p in (DEMO_HELP_CENTER_ZH.parent / "demo_help_center").iterdir() if p.suffix == ".md"}
    chinese = {p.name for p in DEMO_HELP_CENTER_ZH.iterdir()}
    assert 3 <= len(chinese) <= 5 and chinese <= english
    assert {"shipping.md", "returns.md", "payments.md"} <= chinese
    for page in DEMO_HELP_CENTER_ZH.iterdir():
        text = page.read_text(encoding="utf-8")
        assert text.startswith("# ") and _han(text) > 100


def test_seed_demo_uploads_the_chinese_help_center(tmp_path: Path) -> None:
    _seed(tmp_path)
    bot = Bot.objects.get(slug=DEMO_ZH_SLUG)
    names = set(KnowledgeDocument.objects.filter(bot=bot).values_list("filename", flat=True))
    assert names == {p.name for p in DEMO_HELP_CENTER_ZH.iterdir()}


def test_the_twins_frozen_model_as_trained_by_default_understands_chinese() -> None:
    examples = [
        TrainingExample(p, spec["name"]) for spec in [*DEMO_ZH_INTENTS, DEMO_ZH_HANDOFF_INTENT] for p in spec["phrases"]
    ]
    embedder = worker_embedder()
    parser = IntentParser(train(examples, embedder), embedder)
    probes = {
        "帮我查一下订单": "track_order",
        "我想退货": "return_item",
        "再见": "goodbye",
        "几点开门": "opening_hours",
    }
    found = {
        text: (parsed.intent.name if parsed.intent else None) for text in probes for parsed in [parser.parse(text, 0.5)]
    }
    assert found == probes


def test_the_demo_page_shows_the_twin_with_chinese_suggestions(client) -> None:
    bot = demo_bot_zh_ensure(extra_origins=[])
    response = client.get(f"/demo/?bot={DEMO_ZH_SLUG}")
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-bot="{bot.public_key}"' in page and "我的快递到哪了" in page
