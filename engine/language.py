"""The language a visitor's message is written in, so the bot can answer in it.

Detection is lingua's (rule-based script filters, then n-gram models; accurate on the short texts a
chat is made of), restricted to the languages the operator lists, which keeps it fast and its
memory small. A message too short or too mixed to tell ("ok", "12345", an emoji) is "": the
caller then keeps what it knew before (the conversation's last language, the bot's setting).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from engine.chinese_text import contains_han

# A detection, not a guess: the best language's confidence at least this many times the
# runner-up's. A margin, not an absolute value, because lingua's values sum to 1 over the candidate
# languages and so shrink as the operator lists more of them. "no" (Italian 0.21, Portuguese 0.17)
# and "order status AC-12345" (German 0.22, Dutch 0.19) stay undecided; "where is my order"
# (English 0.44, German 0.14) does not.
MIN_MARGIN = 2.0
# Fewer letters than this say too little (digits and punctuation do not count). One Han character
# carries a word: the script alone settles Chinese.
MIN_LETTERS = 3

_build_lock = threading.Lock()


@functools.cache
def _detector(codes: tuple[str, ...]) -> LanguageDetector:
    languages = [Language.from_iso_code_639_1(IsoCode639_1.from_str(code)) for code in codes]
    with _build_lock:
        return LanguageDetectorBuilder.from_languages(*languages).build()


def language_codes_check(codes: Iterable[str]) -> tuple[str, ...]:
    """The ISO 639-1 codes, validated (at start-up, so a typo in the setting fails loudly)."""
    checked = tuple(dict.fromkeys(code.strip().lower() for code in codes if code.strip()))
    for code in checked:
        try:
            IsoCode639_1.from_str(code)
        except ValueError:
            raise ValueError(f"not an ISO 639-1 language code lingua knows: {code!r}") from None
    if len(checked) < 2:
        raise ValueError("language detection needs at least two languages to choose from")
    return checked


def _letters(text: str) -> int:
    return sum(1 for character in text if character.isalpha())


def language_detect(text: str, *, codes: tuple[str, ...]) -> str:
    """The ISO 639-1 code of `text`'s language among `codes`, or "" when it cannot be told."""
    if _letters(text) < MIN_LETTERS and not (contains_han(text) and "zh" in codes):
        return ""
    values = _detector(codes).compute_language_confidence_values(text)
    if not values or values[0].value <= 0:
        return ""
    if len(values) > 1 and values[0].value < MIN_MARGIN * values[1].value:
        return ""
    return values[0].language.iso_code_639_1.name.lower()


def language_name(code: str) -> str:
    """The language's English name, as the prompt names it ("zh" -> "Chinese")."""
    language = Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
    return language.name.capitalize()
