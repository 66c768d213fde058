"""NLU training data in and out: Rasa YAML / CSV imports (all or nothing) and exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from django.db import transaction
from django.db.models import F

from bots.models import Bot, EntityType, EntityValue, Intent, TrainingPhrase
from nlu.formats import NluData, NluFileFormat, write_nlu
from nlu.services.scheduling import nlu_retrain_enqueue


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
        return bool(
            self.intents_created
            or self.phrases_added
            or self.phrases_removed
            or self.entity_types_created
            or self.entity_values_added
        )


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
        for phrase_id, intent_id, text in TrainingPhrase.objects.filter(intent__bot=bot).values_list(
            "id", "intent_id", "text"
        )
    }
    wanted = {(intents[name].pk, text) for name, texts in source.intents.items() for text in texts}
    to_add = [TrainingPhrase(intent_id=intent_id, text=text) for intent_id, text in sorted(wanted - existing.keys())]
    TrainingPhrase.objects.bulk_create(to_add, batch_size=2000)
    report.phrases_added = len(to_add)
    report.phrases_unchanged = len(wanted & existing.keys())
    if replace:
        stale = [phrase_id for key, phrase_id in existing.items() if key not in wanted]
        for start in range(0, len(stale), 5000):
            TrainingPhrase.objects.filter(pk__in=stale[start : start + 5000]).delete()
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
        if len(combined) > cast(int, EntityType._meta.get_field("pattern").max_length):
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
    for intent_name, text in (
        TrainingPhrase.objects.filter(intent__bot=bot)
        .order_by("intent__name", "id")
        .values_list("intent__name", "text")
    ):
        data.intents.setdefault(intent_name, []).append(text)
    for entity_type in EntityType.objects.filter(bot=bot).prefetch_related("values"):
        if entity_type.kind == EntityType.Kind.REGEX:
            data.regexes[entity_type.name] = [entity_type.pattern]
            continue
        data.lookups[entity_type.name] = [v.value for v in entity_type.values.all()]
        for value in entity_type.values.all():
            if value.synonyms:
                data.synonyms.setdefault(value.value, []).extend(
                    s for s in value.synonyms if s not in data.synonyms.get(value.value, [])
                )
    return write_nlu(data, fmt)
