"""Invisible and direction-changing characters made visible, for the analyst workspace and exports.

`conversations.services.messages.text_scrub` removes them from visitor text on input, but stored text can
still hold them: rows older than that rule, bot/model output, imported history, user ids set by an
integration. Rendered raw, a right-to-left override (U+202E) reorders what the analyst reads, so a
transcript says something the visitor never wrote. Here each one becomes a visible `⟨U+202E⟩`.

Revealed: C0/C1 controls other than tab/newline/CR, bidi embeddings/overrides/isolates/marks, the
deprecated format characters, BOM, interlinear annotation, and tag characters outside an emoji flag
sequence. Kept as they are: ZWJ/ZWNJ (emoji sequences, Persian, Indic), variation selectors,
combining marks, flags: they change no order and are needed to render real text.
"""

from __future__ import annotations

import re

# Group 1: an emoji tag sequence (England/Scotland/Wales flags), kept; anything else matched is revealed.
_INVISIBLE = re.compile(
    r"(\U0001F3F4[\U000E0030-\U000E0039\U000E0061-\U000E007A]{2,6}\U000E007F)"
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u206a-\u206f\ufeff\ufff9-\ufffb\U000E0000-\U000E007F]"
)


def _label(match: re.Match[str]) -> str:
    return match.group(1) or f"⟨U+{ord(match.group(0)):04X}⟩"


def reveal_invisible(text: str) -> str:
    """Each invisible/bidi control as `⟨U+XXXX⟩`. Plain text in, plain text out (escape it as usual)."""
    if not text or text.isascii() and text.isprintable():
        return text
    return _INVISIBLE.sub(_label, text)


def _json_escape(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1)
    code = ord(match.group(0))
    if code > 0xFFFF:  # JSON escapes are UTF-16 code units: a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def json_escape_invisible(encoded: str) -> str:
    """In JSON text (from `json.dumps(..., ensure_ascii=False)`), write those characters as `\\uXXXX`.

    Lossless: a JSON parser reads back exactly the same strings; only a human looking at the file
    (or a tool that shows raw lines) sees the escape instead of reordered text. JSON puts them only
    inside strings, where a `\\u` escape is valid.
    """
    return _INVISIBLE.sub(_json_escape, encoded)
