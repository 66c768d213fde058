"""JSON from outside is refused by depth before it is parsed (no RecursionError is ever raised)."""

from __future__ import annotations

import pytest

from chatplatform.json_input import JsonTooDeep, json_depth, json_loads_bounded


def test_depth_ignores_brackets_inside_strings() -> None:
    assert json_depth('{"text": "[[[[{{{{ not structure"}') == 1
    assert json_depth("[" * 5000 + "]" * 5000) == 5000


def test_deep_text_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("json.loads must not run")

    monkeypatch.setattr("chatplatform.json_input.json.loads", never)
    with pytest.raises(JsonTooDeep):
        json_loads_bounded("[" * 100_000 + "]" * 100_000)


def test_ordinary_json_parses_and_invalid_json_is_a_value_error() -> None:
    assert json_loads_bounded('{"messages": [{"content": [{"type": "text", "text": "hi"}]}]}') == {
        "messages": [{"content": [{"type": "text", "text": "hi"}]}]
    }
    with pytest.raises(ValueError):
        json_loads_bounded("{nope")
