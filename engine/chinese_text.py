"""Where words end in mixed Chinese/English text, for regexes that were written for English.

Chinese is written without spaces, so "订单号12345" or "我想明天去北京" has no word boundary that
`\\b` or `(?<!\\w)` would see: CJK characters are `\\w` to Python. The rule here: a boundary is only
required between two non-CJK word characters (letters, digits, underscore); a CJK character next to a
match never continues the word. English text contains no CJK character, so it matches as before.

Also: full-width forms (１２３, ＋, ：) mapped one-to-one to ASCII, so offsets stay valid.
"""

from __future__ import annotations

import re

# Han (unified, extensions, compatibility), CJK radicals, 々〆〇, kana, bopomofo, Hangul syllables and
# half-width katakana: scripts whose words are not separated by spaces (or, for Hangul, carry glued
# particles: 서울에서).
CJK_RANGES = (
    "\u2e80-\u2fdf\u3005-\u3007\u3021-\u3029\u3040-\u30ff\u3100-\u312f\u31a0-\u31bf\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
)
HAN_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"

CJK_CHAR = f"[{CJK_RANGES}]"
# A word character that is not CJK: the only kind that continues an English word or number.
WORD_CONTINUATION = rf"[^\W{CJK_RANGES}]"
NOT_AFTER_WORD = f"(?<!{WORD_CONTINUATION})"
NOT_BEFORE_WORD = f"(?!{WORD_CONTINUATION})"
# `\b` and `\B` for admins' regexes: a CJK neighbour is always a boundary (the original `\b` already is
# one wherever a word character meets a non-word character or the text's edge).
WORD_BOUNDARY = rf"(?:\b|(?<={CJK_CHAR})|(?={CJK_CHAR}))"
NOT_WORD_BOUNDARY = rf"(?:\B(?<!{CJK_CHAR})(?!{CJK_CHAR}))"

_HAN_CHAR = re.compile(f"[{HAN_RANGES}]")

# U+FF01-U+FF5E are full-width ASCII; U+3000 is the ideographic space. The full-width comma stays: in
# Chinese it separates clauses, it is never a thousands separator ("100，200元" is not 100200).
_HALFWIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F) if code != 0xFF0C} | {0x3000: 0x20}


def contains_han(text: str) -> bool:
    return _HAN_CHAR.search(text) is not None


def to_halfwidth(text: str) -> str:
    """Full-width digits, letters and symbols as ASCII; same length, so every offset stays valid."""
    return text.translate(_HALFWIDTH)


def cjk_aware_boundaries(pattern: str) -> str:
    """`pattern` with every `\\b` / `\\B` outside a character class made CJK-aware (see the module doc).

    A small scanner rather than a regex over the pattern: it has to skip escaped backslashes (`\\\\b` is a
    backslash then "b") and character classes (`[\\b]` is a backspace).
    """
    out: list[str] = []
    index = 0
    in_class = False
    class_start = -1
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            if not in_class and escaped == "b":
                out.append(WORD_BOUNDARY)
            elif not in_class and escaped == "B":
                out.append(NOT_WORD_BOUNDARY)
            else:
                out.append(pattern[index : index + 2])
            index += 2
            continue
        if not in_class and char == "[":
            in_class, class_start = True, index
        elif in_class and char == "]":
            # "]" right after "[" or "[^" is a literal member of the class, not its end.
            opening = pattern[class_start + 1 : index]
            if opening not in ("", "^"):
                in_class = False
        out.append(char)
        index += 1
    return "".join(out)
