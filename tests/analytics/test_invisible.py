"""Bidi and invisible controls still in stored text are shown escaped in the workspace and exports
(security issue #9, item 8). Stored rows are written directly: older rows, bot output and imported
history never went through `text_scrub`."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.template import Context, Template

from analytics.invisible import json_escape_invisible, reveal_invisible
from analytics.models import ConversationTag, MessageTag, Note, Tag
from analytics.services import intent_suggestion_create, note_create, tag_get_or_create
from bots.models import Message
from conversations.services.messages import text_scrub
from tests.analytics.factories import ConversationFactory, turn

pytestmark = pytest.mark.django_db

RLO, PDF, LRI, PDI, RLM = "\u202e", "\u202c", "\u2066", "\u2069", "\u200f"
SPOOF = f"pay {RLO}001€ evig{PDF} now"
ENGLAND = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
KEEP = ["你好", "مرحبا", "שָׁלוֹם", "👨\u200d👩\u200d👧", "👍🏽", "🇫🇷", ENGLAND, "می\u200cخواهم", "1️⃣"]


# --- the functions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ch",
    [
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\u200e",
        "\u200f",
        "\u061c",
        "\x00",
        "\x1b",
        "\ufeff",
        "\U000e0041",
    ],
    ids=lambda c: f"U+{ord(c):04X}",
)
def test_reveal_labels_each_control(ch: str) -> None:
    assert reveal_invisible(f"a{ch}b") == f"a⟨U+{ord(ch):04X}⟩b"


@pytest.mark.parametrize("text", KEEP)
def test_reveal_keeps_real_text(text: str) -> None:
    assert reveal_invisible(text) == text


def test_everything_text_scrub_drops_as_invisible_is_revealed() -> None:
    """The two character sets (input scrub, display reveal) must not drift apart."""
    invisible = [
        chr(c)
        for c in (
            *range(0x09),
            0x0B,
            0x0C,
            *range(0x0E, 0x20),
            *range(0x7F, 0xA0),
            0x061C,
            0x200E,
            0x200F,
            *range(0x202A, 0x202F),
            *range(0x2066, 0x2070),
            0xFEFF,
            0xFFF9,
            0xFFFA,
            0xFFFB,
            *range(0xE0000, 0xE0080),
        )
    ]
    for ch in invisible:
        assert text_scrub(f"a{ch}b") == "ab", hex(ord(ch))
        assert reveal_invisible(f"a{ch}b") != f"a{ch}b", hex(ord(ch))


def test_json_escape_is_lossless() -> None:
    data = {"content": f"{SPOOF} {LRI}x{PDI} \U000e0041 {ENGLAND} 你好"}
    line = json_escape_invisible(json.dumps(data, ensure_ascii=False))
    assert RLO not in line and "\\u202e" in line and "\\udb40\\udc41" in line
    assert ENGLAND in line and "你好" in line
    assert json.loads(line) == data


def test_template_filter_escapes_after_revealing() -> None:
    tpl = Template("{% load analytics_text %}<p>{{ s|reveal|linebreaksbr }}</p>")
    html = tpl.render(Context({"s": f"<b>{RLO}x</b>\nline"}))
    assert html == "<p>&lt;b&gt;⟨U+202E⟩x&lt;/b&gt;<br>line</p>"
    assert Template("{% load analytics_text %}{{ n|reveal }}").render(Context({"n": None})) == "None"


# --- input: analysts' text is scrubbed too ----------------------------------------------------------


def test_notes_tags_and_training_phrases_are_scrubbed(conv_a, analyst_a) -> None:
    note = note_create(conversation=conv_a, author=analyst_a, text=f"{RLO}looks fine{PDF}")
    assert note.text == "looks fine"
    assert tag_get_or_create(name=f"vip{RLM}").name == "vip"
    msg = conv_a.messages.filter(role=Message.Role.USER).first()
    msg.text = SPOOF  # an older row, stored before the scrub
    msg.save(update_fields=["text"])
    suggestion = intent_suggestion_create(message=msg, user=analyst_a, new_intent_name="pay")
    assert suggestion.text == "pay 001€ evig now"


# --- the pages ------------------------------------------------------------------------------


@pytest.fixture
def spoofed(bot_a, admin_user):
    """Rows as an older version, the model or an import could have stored them (no scrub)."""
    conv = ConversationFactory(bot=bot_a, user_id=f"user{RLO}moc.liam", locale="en")
    user_msg, bot_msg = turn(conv, SPOOF, f"model said {LRI}secret{PDI} ok", action="fallback")
    user_msg.feedback, user_msg.feedback_comment = Message.Feedback.DOWN, f"bad{RLM}"
    user_msg.entities = [{"entity": "amount", "value": f"{RLO}001"}]
    user_msg.save(update_fields=["feedback", "feedback_comment", "entities"])
    tag = Tag.objects.create(name=f"tag{RLO}x")  # bypasses the validator, as raw SQL / old data would
    ConversationTag.objects.create(conversation=conv, tag=tag)
    MessageTag.objects.create(message=user_msg, tag=tag)
    Note.objects.create(conversation=conv, author=admin_user, text=f"note {RLO}evil")
    Note.objects.create(conversation=conv, message=user_msg, author=admin_user, text=f"on msg {LRI}x")
    return conv, user_msg, bot_msg


def _no_raw_controls(html: str) -> None:
    assert not {RLO, PDF, LRI, PDI, RLM} & set(html), [f"U+{ord(c):04X}" for c in {RLO, PDF, LRI, PDI, RLM} & set(html)]


def test_detail_page_shows_controls_escaped(client, admin_user, spoofed) -> None:
    conv, _user_msg, _bot_msg = spoofed
    client.force_login(admin_user)
    html = client.get(f"/analytics/conversations/{conv.pk}/").content.decode()
    assert "pay ⟨U+202E⟩001€ evig⟨U+202C⟩ now" in html  # message text
    assert "model said ⟨U+2066⟩secret⟨U+2069⟩ ok" in html  # bot output
    assert "user⟨U+202E⟩moc.liam" in html  # customer id
    assert "tag⟨U+202E⟩x" in html  # conversation and message tags
    assert "note ⟨U+202E⟩evil" in html and "on msg ⟨U+2066⟩x" in html  # notes
    assert "bad⟨U+200F⟩" in html  # feedback comment
    assert "amount=⟨U+202E⟩001" in html  # entities
    # Only attribute values posted back keep the raw name (removing the tag must still work); the
    # suggestion form's training phrase is scrubbed instead.
    body = html.replace(f'name="name" value="tag{RLO}x"', "")
    _no_raw_controls(body)


def test_list_unrecognised_metrics_show_controls_escaped(client, admin_user, spoofed) -> None:
    client.force_login(admin_user)
    for url in ("/analytics/conversations/", "/analytics/unrecognised/", "/analytics/metrics/"):
        html = client.get(url).content.decode()
        raw = [html[max(0, i - 80) : i + 20] for i, ch in enumerate(html) if ch in {RLO, PDF, LRI, PDI, RLM}]
        assert not raw, (url, raw)
        assert "⟨U+202E⟩" in html, url


def test_suggestion_review_shows_controls_escaped(client, admin_user, spoofed) -> None:
    from analytics.models import IntentSuggestion

    conv, user_msg, _bot_msg = spoofed
    IntentSuggestion.objects.create(
        bot=conv.bot, message=user_msg, text=SPOOF, new_intent_name="pay", created_by=admin_user
    )
    client.force_login(admin_user)
    html = client.get("/analytics/suggestions/").content.decode()
    _no_raw_controls(html)
    assert "pay ⟨U+202E⟩001€" in html


# --- the exports -----------------------------------------------------------------------------


def _stream(response) -> str:
    return b"".join(response.streaming_content).decode().lstrip("\ufeff")


def test_csv_exports_reveal_controls(client, admin_user, spoofed) -> None:
    client.force_login(admin_user)
    messages = list(csv.DictReader(io.StringIO(_stream(client.get("/analytics/export/messages.csv?mask=0")))))
    _no_raw_controls(json.dumps(messages, ensure_ascii=False))
    assert {r["text"] for r in messages} >= {
        "pay ⟨U+202E⟩001€ evig⟨U+202C⟩ now",
        "model said ⟨U+2066⟩secret⟨U+2069⟩ ok",
    }
    convs = list(csv.DictReader(io.StringIO(_stream(client.get("/analytics/export/conversations.csv?mask=0")))))
    _no_raw_controls(json.dumps(convs, ensure_ascii=False))
    assert convs[0]["user_id"] == "user⟨U+202E⟩moc.liam" and convs[0]["tags"] == "tag⟨U+202E⟩x"


def test_csv_formula_behind_a_control_is_still_defused() -> None:
    from analytics.exports import csv_safe

    assert csv_safe(f"{RLM}=HYPERLINK(1)") == "⟨U+200F⟩=HYPERLINK(1)"
    assert csv_safe("=1+1") == "'=1+1"


def test_jsonl_export_keeps_text_with_controls_escaped(client, admin_user, spoofed) -> None:
    client.force_login(admin_user)
    body = _stream(client.get("/analytics/export/conversations.jsonl?mask=0"))
    _no_raw_controls(body)
    assert "\\u202e" in body
    contents = [t["content"] for line in body.splitlines() for t in json.loads(line)["messages"]]
    assert SPOOF in contents  # lossless once parsed


def test_unicode_text_survives_the_workspace(client, admin_user, bot_a) -> None:
    conv = ConversationFactory(bot=bot_a)
    text = " ".join(KEEP)
    turn(conv, text, "ok", intent="greet")
    client.force_login(admin_user)
    html = client.get(f"/analytics/conversations/{conv.pk}/").content.decode()
    assert text in html
    body = _stream(client.get("/analytics/export/conversations.jsonl?mask=0"))
    assert text in body
