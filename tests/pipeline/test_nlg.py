"""NLG: safe templates, prompt layout (prefix-cache friendly), history budget, citations, cleaning."""

from __future__ import annotations

import pytest

from bots.pipeline.nlg import (DEFAULT_STOP, StreamSanitizer, build_prompt, citations_for, clean_generated,
                               estimate_tokens, history_window, render_template)
from bots.pipeline.types import (BotSpec, ChatMessage, Citation, Entity, IntentScore, KnowledgePassage, ParseResult,
                                 Tracker)

BOT = BotSpec(slug="demo", name="Demo", persona="You are Demo, the shop's assistant.", greeting="Hi!",
              fallback_text="Sorry?", handoff_text="Human?", nlu_threshold=0.5, fallbacks_before_handoff=2,
              generate_when_out_of_scope=True, llm_temperature=0.3, llm_max_tokens=64)


def user(text: str) -> ChatMessage:
    return ChatMessage("user", text)


def bot_says(text: str) -> ChatMessage:
    return ChatMessage("assistant", text)


# --- templates ---------------------------------------------------------------------------------


def test_template_substitutes_slots():
    assert render_template("Booked for {party_size} on {date}.", {"party_size": 4, "date": "Friday"}) == \
        "Booked for 4 on Friday."


def test_template_missing_slot_renders_empty_or_given_text():
    assert render_template("Hi {name}!", {}) == "Hi !"
    assert render_template("Hi {name}!", {"name": None}, missing="there") == "Hi there!"


def test_template_does_not_evaluate_attribute_or_index_access():
    class Boom:
        def __getattr__(self, item):  # pragma: no cover - must never be reached
            raise AssertionError("attribute access evaluated")

    out = render_template("{x.__class__} {x[0]} {x.__init__.__globals__} {x}", {"x": "v"})
    assert out == "{x.__class__} {x[0]} {x.__init__.__globals__} v"
    assert render_template("{obj.secret}", {"obj": Boom()}) == "{obj.secret}"


def test_template_values_are_plain_text_and_not_reexpanded():
    out = render_template("You said: {msg}", {"msg": "{email} <b>hi</b> {0}", "email": "secret@x.y"})
    assert out == "You said: {email} <b>hi</b> {0}"  # no second expansion, no HTML escaping


def test_template_double_braces_are_literal():
    assert render_template("{{name}} is {name}", {"name": "Ann"}) == "{name} is Ann"


def test_template_value_formatting():
    assert render_template("{n} {f} {l} {b}", {"n": 2.0, "f": 2.5, "l": ["a", "b"], "b": True}) == "2 2.5 a, b yes"


# --- prompt ------------------------------------------------------------------------------------


def _parse(text: str, intent: str | None) -> ParseResult:
    score = IntentScore(intent, 0.87) if intent else None
    return ParseResult(text=text, intent=score, ranking=[score] if score else [],
                       entities=[Entity("email", "a@b.co", 0, 6, "a@b.co", "builtin")])


def test_prompt_prefix_identical_across_turns():
    k1 = [KnowledgePassage("Shipping", "https://x.test/ship", "We ship in 2 days.")]
    k2 = [KnowledgePassage("Returns", "https://x.test/ret", "30-day returns."),
          KnowledgePassage("Fees", "", "No fees.")]
    h1 = [bot_says("Hi!"), user("hello")]
    h2 = h1 + [bot_says("How can I help?"), user("shipping?"), bot_says("2 days [1].")]
    p1 = build_prompt(bot=BOT, history=h1, user_text="shipping?", parse=_parse("shipping?", "shipping"),
                      tracker=Tracker(), knowledge=k1)
    p2 = build_prompt(bot=BOT, history=h2, user_text="and returns?", parse=_parse("and returns?", None),
                      tracker=Tracker(slots={"email": "a@b.co"}), knowledge=k2)

    assert p1[0] == p2[0]
    assert p1[0].role == "system" and p1[0].content.startswith(BOT.persona)
    for word in ("Shipping", "Returns", "a@b.co", "shipping", "2 days"):
        assert word not in p1[0].content
    # Turn 2 extends turn 1's prefix (system + history), only the tail differs.
    assert p2[:len(h1) + 1] == p1[:len(h1) + 1]
    assert p2[1:-1] == h2
    # The per-turn context is in the last message, after the history.
    last = p2[-1]
    assert last.role == "user"
    assert last.content.endswith("and returns?")
    assert "[1] Returns (https://x.test/ret)\n30-day returns." in last.content
    assert "[2] Fees\nNo fees." in last.content
    assert "email = a@b.co" in last.content
    assert not any("Returns" in m.content for m in p2[:-1])
    assert "Detected intent: shipping (confidence 0.87)" in p1[-1].content


def test_prompt_without_context_is_plain_user_text():
    p = build_prompt(bot=BOT, history=[], user_text="hey", parse=None, tracker=Tracker(), knowledge=[])
    assert [m.role for m in p] == ["system", "user"] and p[-1].content == "hey"


def test_prompt_drops_current_message_duplicated_at_end_of_history():
    p = build_prompt(bot=BOT, history=[bot_says("Hi!"), user("hey")], user_text="hey", parse=None,
                     tracker=Tracker(), knowledge=[])
    assert [m.content for m in p[1:]] == ["Hi!", "hey"]


def test_history_budget_keeps_most_recent_whole_messages():
    history = [user("a" * 40), bot_says("b" * 40), user("c" * 40), bot_says("d" * 40)]
    # Each message costs 10 + 4 (overhead) estimated tokens.
    assert estimate_tokens("a" * 40) == 10
    assert history_window(history, budget_tokens=14 * 2) == history[2:]
    assert history_window(history, budget_tokens=14 * 2 + 13) == history[2:]  # never half a message
    assert history_window(history, budget_tokens=1000) == history
    assert history_window(history, budget_tokens=5) == []


def test_history_budget_is_contiguous_and_counter_is_injectable():
    history = [user("old"), bot_says("x" * 1000), user("recent")]
    window = history_window(history, budget_tokens=100)
    assert window == [user("recent")]  # the small old message does not jump the gap
    p = build_prompt(bot=BOT, history=history, user_text="now " * 500, parse=None, tracker=Tracker(),
                     knowledge=[], history_budget_tokens=3, count_tokens=lambda s: 1)
    assert [m.content for m in p[1:-1]] == []  # 1 + 4 overhead > 3
    assert p[-1].content == "now " * 500  # the current message is always kept, whole
    p = build_prompt(bot=BOT, history=history, user_text="now", parse=None, tracker=Tracker(),
                     knowledge=[], history_budget_tokens=10, count_tokens=lambda s: 1)
    assert [m.content for m in p[1:-1]] == ["x" * 1000, "recent"]


# --- citations ---------------------------------------------------------------------------------


KNOW = [KnowledgePassage("A", "https://a", "aa"), KnowledgePassage("B", "https://b", "bb"),
        KnowledgePassage("C", "https://c", "cc")]


def test_citations_follow_markers():
    assert citations_for(KNOW, "See [3] and [1], also [3] and [9].") == (Citation("C", "https://c"),
                                                                         Citation("A", "https://a"))


def test_citations_default_to_supplied_passages():
    assert citations_for(KNOW, "No markers.") == tuple(Citation(p.title, p.url) for p in KNOW)
    assert citations_for([], "x [1]") == ()


# --- cleaning ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("Assistant: Hello there", "Hello there"),
    ("  bot:hi  ", "hi"),
    ("Assistants are helpful.", "Assistants are helpful."),
    ("Sure!\nUser: and then", "Sure!"),
    ("Sure!<|im_end|>garbage", "Sure!"),
    ("Assistant:", ""),
    ("<b>not escaped</b>", "<b>not escaped</b>"),
    ("Ends with half a stop\nUs", "Ends with half a stop\nUs"),
])
def test_clean_generated(raw, expected):
    assert clean_generated(raw, stop=DEFAULT_STOP) == expected


def test_stream_sanitizer_streams_same_text_as_whole():
    raw = "Assis|tant:  Hel|lo the|re  |\nUse|r: more| junk"
    sanitizer = StreamSanitizer(labels=("assistant", "Demo"))
    parts = [sanitizer.feed(c) for c in raw.split("|")] + [sanitizer.finish()]
    assert "".join(parts) == sanitizer.text == "Hello there"
    assert parts[0] == ""  # held back while it could be a label
    assert sanitizer.feed("late") == ""


def test_stream_sanitizer_strips_bot_name_label():
    assert clean_generated("Demo: Hi", labels=("assistant", "Demo")) == "Hi"
