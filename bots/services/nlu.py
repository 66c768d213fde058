"""NLU data import/export, classifier training and parsing for one bot.

Adapts ORM rows to the plain-Python pipeline (`bots.pipeline.nlu`, `bots.pipeline.entities`):

* `nlu_data_import` writes a parsed file (`bots.nlu_formats.NluData`) in one transaction and bumps
  `Bot.nlu_data_version` when anything changed;
* `nlu_model_train` embeds only phrases without a stored embedding, fits the classifier and stores
  an `NluModel` for the data version it read; `nlu_model_train_stages` (the worker's retrain) first
  trains the `frozen` model (seconds), then, with NLU_TRAINING_STRATEGY=finetune and enough phrases,
  the `finetune` model (minutes; more accurate, see docs/benchmarks.md), which replaces it;
* `nlu_parse` parses with the bot's best model of its newest data version, kept in a per-process
  cache keyed by the model row and swapped atomically when a better or newer one appears.

Runs in the worker (the embedding model must never load in the web process).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F

from bots.models import Bot, EntityType, EntityValue, Intent, NluModel, TrainingPhrase
from bots.nlu_formats import NluData, NluFileFormat, write_nlu
from bots.pipeline.embeddings import SentenceEmbedder, shared_embedder
from bots.pipeline.entities import EntityExtractor, LookupEntityDef, RegexEntityDef
from bots.pipeline.nlu import IntentParser, NluTrainingError, TrainingExample, load_model, train, train_with_strategy
from bots.pipeline.types import ParseResult

log = structlog.get_logger(__name__)

EMBEDDING_SAVE_BATCH = 1000


class NluImportError(ValueError):
    """The data conflicts with what the bot already has; nothing was written."""


@dataclass(slots=True)
class ImportReport:
    intents_created: int = 0
    phrases_added: int = 0
    phrases_unchanged: int = 0
    phrases_removed: int = 0
    entity_types_created: int = 0
    entity_values_added: int = 0
    data_version: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.intents_created or self.phrases_added or self.phrases_removed
                    or self.entity_types_created or self.entity_values_added)


def _embedder() -> SentenceEmbedder:
    return shared_embedder(settings.EMBEDDING_MODEL_PATH or None, torch_threads=settings.NLU_TORCH_THREADS)


def nlu_warm_up() -> None:
    """At worker start: load the embedding model, and train bots whose model is missing or stale
    (a fresh install, an import while no worker ran), so visitors never wait for either."""
    _embedder().warm_up()
    for bot in Bot.objects.filter(is_active=True, intents__isnull=False).distinct():
        if _missing_stages(bot):
            nlu_retrain_enqueue(bot_id=bot.pk, data_version=bot.nlu_data_version)


# --- import / export ---------------------------------------------------------------------------


def nlu_data_import(*, bot: Bot, source: NluData, replace: bool = False) -> ImportReport:
    """Add (or with `replace`, make the bot's phrases equal to) the parsed data. All or nothing.

    `replace` removes training phrases that are not in the file but keeps intents themselves (their
    responses and forms were authored in the admin; a training file says nothing about them), and
    keeps the stored embeddings of phrases that stay, so retraining only embeds what is new.
    """
    report = ImportReport()
    report.warnings.extend(f"line {line}: {message}" for line, message in source.warnings)
    with transaction.atomic():
        # One import per bot at a time: two racing imports would both compute the same "missing" set.
        locked_bot = Bot.objects.select_for_update().get(pk=bot.pk)
        _import_intents(locked_bot, source, replace, report)
        _import_entities(locked_bot, source, replace, report)
        if report.changed:
            Bot.objects.filter(pk=bot.pk).update(nlu_data_version=F("nlu_data_version") + 1)
            transaction.on_commit(lambda: nlu_retrain_enqueue(bot_id=bot.pk))
        bot.nlu_data_version = Bot.objects.values_list("nlu_data_version", flat=True).get(pk=bot.pk)
        report.data_version = bot.nlu_data_version
    return report


def _import_intents(bot: Bot, source: NluData, replace: bool, report: ImportReport) -> None:
    intents = {intent.name: intent for intent in Intent.objects.filter(bot=bot)}
    new_intents = [Intent(bot=bot, name=name) for name in source.intents if name not in intents]
    for intent in Intent.objects.bulk_create(new_intents):
        intents[intent.name] = intent
    report.intents_created = len(new_intents)

    existing: dict[tuple[int, str], int] = {
        (intent_id, text): phrase_id
        for phrase_id, intent_id, text in TrainingPhrase.objects.filter(intent__bot=bot).values_list("id", "intent_id", "text")
    }
    wanted = {(intents[name].pk, text) for name, texts in source.intents.items() for text in texts}
    to_add = [TrainingPhrase(intent_id=intent_id, text=text) for intent_id, text in sorted(wanted - existing.keys())]
    TrainingPhrase.objects.bulk_create(to_add, batch_size=2000)
    report.phrases_added = len(to_add)
    report.phrases_unchanged = len(wanted & existing.keys())
    if replace:
        stale = [phrase_id for key, phrase_id in existing.items() if key not in wanted]
        for start in range(0, len(stale), 5000):
            TrainingPhrase.objects.filter(pk__in=stale[start:start + 5000]).delete()
        report.phrases_removed = len(stale)
        emptied = sorted(set(intents) - set(source.intents))
        if emptied:
            report.warnings.append(f"intents kept without training phrases: {', '.join(emptied)}")


def _import_entities(bot: Bot, source: NluData, replace: bool, report: ImportReport) -> None:
    both = set(source.lookups) & set(source.regexes)
    if both:
        raise NluImportError(f"entities defined both as lookup and regex: {', '.join(sorted(both))}")
    types = {t.name: t for t in EntityType.objects.filter(bot=bot)}

    def entity_type(name: str, kind: str, pattern: str = "") -> EntityType:
        existing = types.get(name)
        if existing is not None and existing.kind != kind:
            raise NluImportError(f"entity {name!r} already exists as a {existing.kind} entity")
        if existing is None:
            existing = EntityType.objects.create(bot=bot, name=name, kind=kind, pattern=pattern)
            types[name] = existing
            report.entity_types_created += 1
        return existing

    for name, patterns in source.regexes.items():
        if not patterns:
            continue
        current = types.get(name)
        previous = [current.pattern] if current is not None and current.pattern and not replace else []
        alternatives = list(dict.fromkeys([*previous, *patterns]))
        # One pattern per entity type in the model: several Rasa regexes become one alternation.
        combined = alternatives[0] if len(alternatives) == 1 else "|".join(f"(?:{p})" for p in alternatives)
        if len(combined) > EntityType._meta.get_field("pattern").max_length:
            raise NluImportError(f"regex entity {name!r}: combined pattern longer than the 500 characters stored")
        regex_type = entity_type(name, EntityType.Kind.REGEX, combined)
        if regex_type.pattern != combined:
            regex_type.pattern = combined
            regex_type.save(update_fields=["pattern"])
            report.entity_values_added += 1

    for name, values in source.lookups.items():
        lookup_type = entity_type(name, EntityType.Kind.LOOKUP)
        known = set(EntityValue.objects.filter(entity_type=lookup_type).values_list("value", flat=True))
        fresh = [EntityValue(entity_type=lookup_type, value=value) for value in values if value not in known]
        EntityValue.objects.bulk_create(fresh)
        report.entity_values_added += len(fresh)

    if source.synonyms:
        values_by_name: dict[str, list[EntityValue]] = {}
        for value in EntityValue.objects.filter(entity_type__bot=bot, entity_type__kind=EntityType.Kind.LOOKUP):
            values_by_name.setdefault(value.value.casefold(), []).append(value)
        for canonical, synonyms in source.synonyms.items():
            targets = values_by_name.get(canonical.casefold())
            if not targets:
                # Our synonyms belong to a lookup value; Rasa's are global. Say so rather than invent a type.
                report.warnings.append(f"synonym {canonical!r} skipped: no lookup entity has the value {canonical!r}")
                continue
            for target in targets:
                merged = list(dict.fromkeys([*target.synonyms, *synonyms]))
                if merged != target.synonyms:
                    target.synonyms = merged
                    target.save(update_fields=["synonyms"])
                    report.entity_values_added += 1


def nlu_data_export(*, bot: Bot, fmt: NluFileFormat) -> str:
    data = NluData()
    for intent_name, text in TrainingPhrase.objects.filter(intent__bot=bot).order_by("intent__name", "id") \
            .values_list("intent__name", "text"):
        data.intents.setdefault(intent_name, []).append(text)
    for entity_type in EntityType.objects.filter(bot=bot).prefetch_related("values"):
        if entity_type.kind == EntityType.Kind.REGEX:
            data.regexes[entity_type.name] = [entity_type.pattern]
            continue
        data.lookups[entity_type.name] = [v.value for v in entity_type.values.all()]
        for value in entity_type.values.all():
            if value.synonyms:
                data.synonyms.setdefault(value.value, []).extend(
                    s for s in value.synonyms if s not in data.synonyms.get(value.value, []))
    return write_nlu(data, fmt)


# --- entities (selector-style read) ------------------------------------------------------------


def entity_extractor_for_bot(*, bot: Bot) -> EntityExtractor:
    """The bot's regex and lookup entities plus the built-ins, as a plain-Python extractor."""
    regexes: list[RegexEntityDef] = []
    lookups: list[LookupEntityDef] = []
    for entity_type in EntityType.objects.filter(bot=bot).prefetch_related("values"):
        if entity_type.kind == EntityType.Kind.REGEX:
            regexes.append(RegexEntityDef(entity_type.name, entity_type.pattern))
        else:
            lookups.append(LookupEntityDef(entity_type.name, {v.value: list(v.synonyms) for v in entity_type.values.all()}))
    return EntityExtractor(regex_entities=regexes, lookup_entities=lookups)


# --- training ----------------------------------------------------------------------------------


def _finetune_wanted(bot: Bot) -> bool:
    """Fine-tuning is on (settings) and the bot has enough data for it to be worth minutes of CPU."""
    if settings.NLU_TRAINING_STRATEGY != NluModel.Strategy.FINETUNE:
        return False
    counts = TrainingPhrase.objects.filter(intent__bot=bot).aggregate(
        phrases=Count("id"), intents=Count("intent", distinct=True))
    return counts["intents"] >= 2 and counts["phrases"] >= settings.NLU_FINETUNE_MIN_PHRASES


def _missing_stages(bot: Bot) -> list[str]:
    """The models the bot's current data version still lacks, in training order."""
    have = set(NluModel.objects.filter(bot=bot, data_version=bot.nlu_data_version).values_list("strategy", flat=True))
    wanted = [NluModel.Strategy.FROZEN] + ([NluModel.Strategy.FINETUNE] if _finetune_wanted(bot) else [])
    return [str(stage) for stage in wanted if stage not in have]


def nlu_model_train_stages(*, bot: Bot) -> list[NluModel]:
    """What the worker runs when training data changed: the frozen model first (serves within
    seconds), then the fine-tuned one if wanted. A stage is skipped when it exists for the current
    data version, and the fine-tuned stage is dropped when the data changed while the frozen one
    trained (that change queued its own retrain)."""
    bot.refresh_from_db(fields=["nlu_data_version"])
    stored = []
    for stage in _missing_stages(bot):
        if stored and Bot.objects.values_list("nlu_data_version", flat=True).get(pk=bot.pk) != stored[0].data_version:
            break
        stored.append(nlu_model_train(bot=bot, strategy=stage))
    return stored


def nlu_model_train(*, bot: Bot, strategy: str = NluModel.Strategy.FROZEN) -> NluModel:
    """Train (or retrain) one classifier for the bot's current data version and store it."""
    data_version = Bot.objects.values_list("nlu_data_version", flat=True).get(pk=bot.pk)
    started = time.perf_counter()
    rows = list(TrainingPhrase.objects.filter(intent__bot=bot).values_list("id", "text", "intent__name", "embedding"))
    if not rows:
        raise NluTrainingError(f"bot {bot.slug!r} has no training phrases")
    embedder = _embedder()
    if strategy != NluModel.Strategy.FROZEN:
        # Fine-tuned models embed with their own tuned layers; stored (frozen) embeddings do not apply.
        options = dict(getattr(settings, "NLU_FINETUNE_OPTIONS", None) or {})
        model = train_with_strategy([TrainingExample(text, intent) for _, text, intent, _ in rows], embedder,
                                    strategy=strategy, **options)
        model.metrics.update({"train_seconds": round(time.perf_counter() - started, 3)})
        return _store_model(bot, data_version, strategy, model)
    embeddings = np.zeros((len(rows), embedder_dimensions()), dtype=np.float32)
    missing = [i for i, row in enumerate(rows) if row[3] is None]
    for i, row in enumerate(rows):
        if row[3] is not None:
            embeddings[i] = np.asarray(row[3], dtype=np.float32)
    if missing:
        fresh = embedder.encode([rows[i][1] for i in missing])
        embeddings[missing] = fresh
        _store_embeddings([rows[i][0] for i in missing], fresh)
    embedded_at = time.perf_counter()
    model = train([TrainingExample(text, intent) for _, text, intent, _ in rows], embedder, embeddings=embeddings)
    model.metrics.update({"strategy": NluModel.Strategy.FROZEN, "embedded_now": len(missing),
                          "embed_seconds": round(embedded_at - started, 3),
                          "train_seconds": round(time.perf_counter() - started, 3)})
    return _store_model(bot, data_version, NluModel.Strategy.FROZEN, model)


def _store_model(bot: Bot, data_version: int, strategy: str, model: object) -> NluModel:
    nlu_model, _ = NluModel.objects.update_or_create(
        bot=bot, data_version=data_version, strategy=strategy,
        defaults={"artifact": model.to_bytes(), "metrics": model.metrics})  # type: ignore[attr-defined]
    _prune_old_models(bot)
    log.info("nlu_model_stored", bot_id=bot.pk, data_version=data_version, strategy=strategy,
             train_seconds=model.metrics.get("train_seconds"))  # type: ignore[attr-defined]
    return nlu_model


def _prune_old_models(bot: Bot) -> None:
    """Keep the models of the newest NLU_MODELS_KEPT data versions (a fine-tuned artifact is ~15 MB;
    older versions are only useful for comparing or rolling back recent changes)."""
    versions = list(NluModel.objects.filter(bot=bot).order_by("-data_version").values_list("data_version", flat=True)
                    .distinct()[:settings.NLU_MODELS_KEPT])
    if len(versions) == settings.NLU_MODELS_KEPT:
        NluModel.objects.filter(bot=bot, data_version__lt=versions[-1]).delete()


def embedder_dimensions() -> int:
    from bots.models import EMBEDDING_DIMENSIONS

    return EMBEDDING_DIMENSIONS


def _store_embeddings(phrase_ids: list[int], vectors: np.ndarray) -> None:
    phrases = [TrainingPhrase(id=pk, embedding=vector.tolist()) for pk, vector in zip(phrase_ids, vectors, strict=True)]
    # Phrases deleted by a concurrent import are simply not updated; nothing to clean up.
    TrainingPhrase.objects.bulk_update(phrases, ["embedding"], batch_size=EMBEDDING_SAVE_BATCH)


# --- parsing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LoadedModel:
    model_id: int
    data_version: int
    parser: IntentParser


_parsers: dict[int, _LoadedModel] = {}
_parsers_lock = threading.Lock()
_training_locks: dict[int, threading.Lock] = {}


def _training_lock(bot_id: int) -> threading.Lock:
    with _parsers_lock:
        return _training_locks.setdefault(bot_id, threading.Lock())


def nlu_parse(*, bot: Bot, text: str, threshold: float | None = None) -> ParseResult:
    """Intent (None below `bot.nlu_threshold`, or `threshold` when given), ranking and entities for
    one message.

    Uses the bot's best stored model; with none yet, trains one synchronously (once per process
    even when many threads ask at the same time).
    """
    parser = _parser_for(bot)
    return parser.parse(text, bot.nlu_threshold if threshold is None else threshold)


def nlu_training_data_changed(*, bot_id: int) -> None:
    """Bump the bot's NLU data version (F(): no lost update) and, after commit, retrain in the worker.

    Every writer of intents, phrases or entities calls this: the admin, the REST API, imports and
    accepted corrections. Until the new model is stored, parsing keeps using the previous one.
    """
    Bot.objects.filter(pk=bot_id).update(nlu_data_version=F("nlu_data_version") + 1)
    transaction.on_commit(lambda: nlu_retrain_enqueue(bot_id=bot_id))


def nlu_retrain_enqueue(*, bot_id: int, data_version: int | None = None) -> None:
    """Ask the worker to train; at most one request per bot and data version within 10 minutes."""
    from django.core.cache import cache
    from kombu.exceptions import OperationalError

    from inference_worker.tasks import nlu_retrain

    if data_version is None:
        data_version = Bot.objects.values_list("nlu_data_version", flat=True).get(pk=bot_id)
    if not cache.add(f"nlu-retrain:{bot_id}:{data_version}", 1, timeout=600):
        return
    try:
        nlu_retrain.delay(bot_id)
    except OperationalError:  # broker down: the data is committed; the next parse asks again
        cache.delete(f"nlu-retrain:{bot_id}:{data_version}")
        log.warning("nlu_retrain_enqueue_failed", bot_id=bot_id)


def _best_model(bot: Bot) -> tuple[int, int] | None:
    """(model id, data version) of the model to serve: the newest data version, and within it the
    fine-tuned model over the frozen one ("finetune" sorts before "frozen")."""
    return NluModel.objects.filter(bot=bot).order_by("-data_version", "strategy").values_list("id", "data_version").first()


def _parser_for(bot: Bot) -> IntentParser:
    best = _best_model(bot)
    if best is not None and best[1] < bot.nlu_data_version:
        # Serve the previous model while the worker trains the new one (swapped in when stored).
        nlu_retrain_enqueue(bot_id=bot.pk, data_version=bot.nlu_data_version)
    cached = _parsers.get(bot.pk)
    if cached is not None and best is not None and cached.model_id == best[0]:
        return cached.parser
    if best is None:
        with _training_lock(bot.pk):
            best = _best_model(bot)
            if best is None:
                trained = nlu_model_train(bot=bot)
                best = (trained.pk, trained.data_version)
    model_id, data_version = best
    row = NluModel.objects.get(pk=model_id)
    parser = IntentParser(load_model(row.artifact, _embedder()), _embedder(), entity_extractor_for_bot(bot=bot))
    with _parsers_lock:
        current = _parsers.get(bot.pk)
        # Never replace a newer model another thread installed meanwhile.
        if current is None or current.data_version <= data_version:
            _parsers[bot.pk] = _LoadedModel(model_id, data_version, parser)
    return parser


def nlu_cache_clear() -> None:
    """Forget loaded models (tests; a worker picks up new versions by itself)."""
    with _parsers_lock:
        _parsers.clear()
