from __future__ import annotations

import datetime as dt

import pytest

from engine.entities import EntityDefinitionError, EntityExtractor, LookupEntityDef, RegexEntityDef

TODAY = dt.date(2026, 11, 18)  # a Wednesday


def extract(text: str, **kwargs: object) -> list[tuple[str, object, str]]:
    extractor = EntityExtractor(**kwargs)  # type: ignore[arg-type]
    return [(e.entity, e.value, e.text) for e in extractor.extract(text, today=TODAY)]


CITIES = [LookupEntityDef("city", {"New York": ["NYC", "new york city", "big apple"], "York": []})]


def test_synonyms_map_to_canonical_value_case_insensitively() -> None:
    assert extract("Flights from nyc or the Big Apple", lookup_entities=CITIES, builtins=()) == [
        ("city", "New York", "nyc"),
        ("city", "New York", "Big Apple"),
    ]


def test_longest_match_wins_and_offsets_are_right() -> None:
    text = "I live in New York City now"
    entities = EntityExtractor(lookup_entities=CITIES, builtins=()).extract(text)
    assert len(entities) == 1
    entity = entities[0]
    assert (entity.value, entity.start, entity.end) == ("New York", 10, 23)
    assert text[entity.start : entity.end] == entity.text == "New York City"


def test_lookup_matches_whole_words_only() -> None:
    assert extract("yorkshire pudding", lookup_entities=CITIES, builtins=()) == []


def test_regex_entities_and_bad_patterns() -> None:
    assert extract(
        "order AB123456 is late", regex_entities=[RegexEntityDef("order_id", r"[A-Z]{2}\d{6}")], builtins=()
    ) == [("order_id", "AB123456", "AB123456")]
    with pytest.raises(EntityDefinitionError):
        EntityExtractor(regex_entities=[RegexEntityDef("broken", "(unclosed")])


def test_builtins() -> None:
    found = extract("Mail Jane.Doe@Example.com or call +1 (415) 555-0100 about 3 tickets")
    assert ("email", "jane.doe@example.com", "Jane.Doe@Example.com") in found
    assert ("phone", "+14155550100", "+1 (415) 555-0100") in found
    assert ("number", 3, "3") in found
    assert not any(e[0] == "number" and e[2] in ("415", "555") for e in found)  # inside the phone


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("tomorrow", "2026-11-19"),
        ("on 2026-12-24", "2026-12-24"),
        ("12/25/2026", "2026-12-25"),
        ("May 3rd, 2027", "2027-05-03"),
        ("3 March", "2026-03-03"),
        ("next friday", "2026-11-20"),
        ("last monday", "2026-11-16"),
    ],
)
def test_dates(text: str, value: str) -> None:
    assert [e[1] for e in extract(text) if e[0] == "date"] == [value]


@pytest.mark.parametrize(
    ("text", "value"),
    [("at 3:30pm", "15:30"), ("10 am", "10:00"), ("by noon", "12:00"), ("at 18:05", "18:05"), ("12am", "00:00")],
)
def test_times(text: str, value: str) -> None:
    assert [e[1] for e in extract(text) if e[0] == "time"] == [value]


def test_numbers_with_separators_and_words() -> None:
    assert [e[1] for e in extract("1,250.50 dollars for two", builtins=("number",))] == [1250.5, 2]
