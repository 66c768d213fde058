"""Reads of a bot's NLU configuration, adapted to the plain-Python engine."""

from __future__ import annotations

from bots.models import Bot, EntityType
from engine.entities import EntityExtractor, LookupEntityDef, RegexEntityDef


def entity_extractor_for_bot(*, bot: Bot) -> EntityExtractor:
    """The bot's regex and lookup entities plus the built-ins, as a plain-Python extractor."""
    regexes: list[RegexEntityDef] = []
    lookups: list[LookupEntityDef] = []
    for entity_type in EntityType.objects.filter(bot=bot).prefetch_related("values"):
        if entity_type.kind == EntityType.Kind.REGEX:
            regexes.append(RegexEntityDef(entity_type.name, entity_type.pattern))
        else:
            lookups.append(
                LookupEntityDef(entity_type.name, {v.value: list(v.synonyms) for v in entity_type.values.all()})
            )
    return EntityExtractor(regex_entities=regexes, lookup_entities=lookups)
