"""nlu_data_import / export / train / parse against the real database and the real embedder."""

from __future__ import annotations

import pytest
from django.db.models import F

from bots.models import Bot, EntityType, EntityValue, NluModel, TrainingPhrase
from nlu.formats import NluData, parse_csv, parse_rasa_yaml
from nlu.selectors import entity_extractor_for_bot
from nlu.services.imports import NluImportError, nlu_data_export, nlu_data_import
from nlu.services.parsing import _parsers, nlu_cache_clear, nlu_parse
from nlu.services.training import nlu_model_train, nlu_model_train_stages
from tests.factories import BotFactory, EntityTypeFactory, IntentFactory, TrainingPhraseFactory

pytestmark = pytest.mark.django_db

DATA = NluData(
    intents={
        "check_balance": [
            "how much money is in my account",
            "what is my balance",
            "show my account balance",
            "how much do i have in checking",
        ],
        "book_flight": [
            "book a flight to paris",
            "i need a plane ticket to london",
            "reserve a flight for tomorrow",
            "find me flights to new york",
        ],
    },
    lookups={"city": ["New York", "Paris"]},
    synonyms={"New York": ["NYC", "big apple"]},
    regexes={"booking_ref": [r"[A-Z]{3}\d{3}"]},
)


def test_import_adds_data_bumps_version_and_is_idempotent() -> None:
    bot = BotFactory()
    report = nlu_data_import(bot=bot, source=DATA)
    assert (report.intents_created, report.phrases_added, report.entity_types_created) == (2, 8, 2)
    assert report.data_version == bot.nlu_data_version == 2
    city = EntityValue.objects.get(entity_type__bot=bot, value="New York")
    assert city.synonyms == ["NYC", "big apple"]

    again = nlu_data_import(bot=bot, source=DATA)
    assert (again.phrases_added, again.phrases_unchanged, again.data_version) == (0, 8, 2)


def test_replace_removes_missing_phrases_keeps_intents_and_embeddings() -> None:
    bot = BotFactory()
    nlu_data_import(bot=bot, source=DATA)
    kept = TrainingPhrase.objects.get(intent__bot=bot, text="what is my balance")
    TrainingPhrase.objects.filter(pk=kept.pk).update(embedding=[0.1] * 384)
    smaller = NluData(intents={"check_balance": ["what is my balance"]})
    report = nlu_data_import(bot=bot, source=smaller, replace=True)
    assert report.phrases_removed == 7
    assert list(TrainingPhrase.objects.filter(intent__bot=bot).values_list("text", flat=True)) == ["what is my balance"]
    assert TrainingPhrase.objects.get(pk=kept.pk).embedding is not None
    assert bot.intents.count() == 2 and any("book_flight" in w for w in report.warnings)


def test_conflicting_entity_kind_rolls_back_everything() -> None:
    bot = BotFactory()
    EntityTypeFactory(bot=bot, name="city", kind=EntityType.Kind.REGEX, pattern="x")
    with pytest.raises(NluImportError):
        nlu_data_import(bot=bot, source=DATA)
    assert not TrainingPhrase.objects.filter(intent__bot=bot).exists()
    bot.refresh_from_db()
    assert bot.nlu_data_version == 1


def test_export_round_trips() -> None:
    bot = BotFactory()
    nlu_data_import(bot=bot, source=DATA)
    yaml_data = parse_rasa_yaml(nlu_data_export(bot=bot, fmt="yaml"))
    assert {k: sorted(v) for k, v in yaml_data.intents.items()} == {k: sorted(v) for k, v in DATA.intents.items()}
    assert yaml_data.synonyms == DATA.synonyms and yaml_data.regexes == DATA.regexes
    assert parse_csv(nlu_data_export(bot=bot, fmt="csv")).example_count == 8


def test_entity_extractor_for_bot() -> None:
    bot = BotFactory()
    nlu_data_import(bot=bot, source=DATA)
    entities = entity_extractor_for_bot(bot=bot).extract("fly to the big apple, ref ABC123")
    assert [(e.entity, e.value) for e in entities] == [("city", "New York"), ("booking_ref", "ABC123")]


def test_train_stores_embeddings_and_parse_uses_latest_model() -> None:
    nlu_cache_clear()
    bot = BotFactory(nlu_threshold=0.5)
    nlu_data_import(bot=bot, source=DATA)

    # No model yet: the first parse trains synchronously.
    result = nlu_parse(bot=bot, text="get me a ticket to nyc")
    assert result.intent is not None and result.intent.name == "book_flight"
    assert ("city", "New York") in [(e.entity, e.value) for e in result.entities]
    assert NluModel.objects.filter(bot=bot, data_version=2).exists()
    assert not TrainingPhrase.objects.filter(intent__bot=bot, embedding__isnull=True).exists()
    assert nlu_parse(bot=bot, text="what is the capital of mongolia").intent is None

    # New data: only the new phrase is embedded, and parse switches to the new version.
    greet = IntentFactory(bot=bot, name="greet")
    TrainingPhraseFactory(intent=greet, text="hello there")
    TrainingPhraseFactory(intent=greet, text="hi, good morning")
    bot.nlu_data_version = 3
    bot.save(update_fields=["nlu_data_version"])
    model = nlu_model_train(bot=bot)
    assert model.data_version == 3 and model.metrics["embedded_now"] == 2
    assert nlu_parse(bot=bot, text="hello, good morning to you").intent.name == "greet"  # type: ignore[union-attr]


def test_stages_train_frozen_then_finetuned_which_replaces_it(settings) -> None:
    settings.NLU_TRAINING_STRATEGY = "finetune"
    settings.NLU_FINETUNE_MIN_PHRASES = 0
    settings.NLU_FINETUNE_OPTIONS = {"epochs": 1, "batch_size": 8, "min_steps": 10, "tuned_layers": 1}
    bot = BotFactory(nlu_threshold=0.0)
    nlu_data_import(bot=bot, source=DATA)
    nlu_cache_clear()
    frozen = nlu_model_train(bot=bot)
    assert nlu_parse(bot=bot, text="i want a plane ticket to paris").intent.name == "book_flight"  # type: ignore[union-attr]
    served_before = type(_parsers[bot.pk].parser.model).__name__

    stored = nlu_model_train_stages(bot=bot)  # the frozen stage exists already: only the fine-tuned one runs
    assert [m.strategy for m in stored] == ["finetune"] and stored[0].metrics["strategy"] == "finetune"
    result = nlu_parse(bot=bot, text="i want a plane ticket to paris")
    assert result.intent is not None and result.intent.name == "book_flight"
    assert (served_before, type(_parsers[bot.pk].parser.model).__name__) == (
        "TrainedIntentModel",
        "FineTunedIntentModel",
    )
    assert _parsers[bot.pk].model_id == stored[0].pk != frozen.pk
    assert nlu_model_train_stages(bot=bot) == []  # nothing missing: nothing trained twice
    nlu_cache_clear()


def test_small_bots_and_frozen_setting_skip_fine_tuning(settings) -> None:
    bot = BotFactory()
    nlu_data_import(bot=bot, source=DATA)
    settings.NLU_TRAINING_STRATEGY = "finetune"
    settings.NLU_FINETUNE_MIN_PHRASES = 200  # the bot has 8
    assert [m.strategy for m in nlu_model_train_stages(bot=bot)] == ["frozen"]
    settings.NLU_FINETUNE_MIN_PHRASES = 0
    settings.NLU_TRAINING_STRATEGY = "frozen"
    assert nlu_model_train_stages(bot=bot) == []


def test_fine_tuned_stage_is_dropped_when_the_data_changed_meanwhile(settings, monkeypatch) -> None:
    from nlu.services import training as nlu_service

    settings.NLU_TRAINING_STRATEGY = "finetune"
    settings.NLU_FINETUNE_MIN_PHRASES = 0
    bot = BotFactory()
    nlu_data_import(bot=bot, source=DATA)
    real_train = nlu_service.nlu_model_train

    def train_then_edit(*, bot, strategy="frozen"):
        model = real_train(bot=bot, strategy=strategy)
        Bot.objects.filter(pk=bot.pk).update(nlu_data_version=F("nlu_data_version") + 1)  # an admin edit lands
        return model

    monkeypatch.setattr(nlu_service, "nlu_model_train", train_then_edit)
    assert [m.strategy for m in nlu_model_train_stages(bot=bot)] == ["frozen"]


def test_only_the_newest_data_versions_keep_their_models(settings) -> None:
    settings.NLU_MODELS_KEPT = 2
    bot = BotFactory()
    nlu_data_import(bot=bot, source=DATA)
    for version in (5, 6, 7):
        Bot.objects.filter(pk=bot.pk).update(nlu_data_version=version)
        nlu_model_train(bot=bot)
    assert sorted(NluModel.objects.filter(bot=bot).values_list("data_version", flat=True)) == [6, 7]
    nlu_cache_clear()
