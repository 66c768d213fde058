from __future__ import annotations

import pytest

from nlu.formats import NluData, NluFormatError, format_for_path, parse_csv, parse_rasa_yaml, write_csv, write_rasa_yaml

GOOD_YAML = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hey
    - hello [there](who)
    - hey
- intent: check_balance
  examples: |
    - what's my [checking](account) balance
- synonym: New York
  examples: |
    - NYC
- lookup: city
  examples: |
    - New York
    - Paris
- regex: account_number
  examples: |
    - \\d{10,12}
"""


def test_parses_rasa_yaml_with_entities_and_duplicates() -> None:
    data = parse_rasa_yaml(GOOD_YAML)
    assert data.intents == {"greet": ["hey", "hello there"], "check_balance": ["what's my checking balance"]}
    assert data.synonyms == {"New York": ["NYC"]}
    assert data.lookups == {"city": ["New York", "Paris"]}
    assert data.regexes == {"account_number": [r"\d{10,12}"]}
    assert data.warnings and data.warnings[0][0] == 7  # the repeated "hey"


def test_yaml_errors_carry_line_numbers_and_nothing_is_returned() -> None:
    bad = """\
nlu:
- intent: greet
  examples: |
    - hello
    hi without a dash
- intent: bad name!
  examples: |
    - whatever
- regex: code
  examples: |
    - (unclosed
"""
    with pytest.raises(NluFormatError) as caught:
        parse_rasa_yaml(bad)
    lines = [line for line, _ in caught.value.errors]
    assert lines == [5, 6, 11]


def test_yaml_syntax_error_reports_its_line() -> None:
    with pytest.raises(NluFormatError) as caught:
        parse_rasa_yaml("nlu:\n- intent: greet\n  examples: [unclosed\n")
    assert caught.value.errors[0][0] >= 3


def test_csv_parse_with_line_numbers() -> None:
    data = parse_csv('text,intent\nhello,greet\n"what\'s my balance, please",check_balance\n')
    assert data.examples() == [("hello", "greet"), ("what's my balance, please", "check_balance")]
    with pytest.raises(NluFormatError) as caught:
        parse_csv("text,intent\nhello,greet\n,greet\nhi,bad name\nok,greet,extra\n")
    assert [line for line, _ in caught.value.errors] == [3, 4, 5]
    with pytest.raises(NluFormatError):
        parse_csv("sentence,label\nhi,greet\n")


def test_round_trips() -> None:
    data = NluData(
        intents={"greet": ["hi", "yes: indeed"], "1.0": ["number-like intent"]},
        synonyms={"New York": ["NYC"]},
        lookups={"city": ["New York"]},
        regexes={"zip": [r"\d{5}"]},
    )
    again = parse_rasa_yaml(write_rasa_yaml(data))
    assert (again.intents, again.synonyms, again.lookups, again.regexes) == (
        data.intents,
        data.synonyms,
        data.lookups,
        data.regexes,
    )
    assert parse_csv(write_csv(data)).intents == data.intents


def test_format_for_path() -> None:
    assert format_for_path("data/nlu.YML") == "yaml" and format_for_path("x.csv") == "csv"
    with pytest.raises(NluFormatError):
        format_for_path("x.json")
