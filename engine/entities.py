"""Entity extraction: a bot's regex and lookup entities plus built-ins (email, phone, number, date, time, amount).

Like Rasa's RegexEntityExtractor + EntitySynonymMapper: lookup tables match whole words,
case-insensitively, and map every synonym to its canonical value. All extractors propose spans;
overlaps are resolved so that the longest span wins (ties: the bot's own entities before built-ins,
then the earliest). "new york city" is one city, not "new york" plus a stray "city"; "+1 415 555 0100"
is one phone, not four numbers.

Chinese and mixed Chinese/English text work too (issue #16): the built-ins add the finders of
`engine.entities_zh` (十二, 13812345678, 明天, 下午三点, 99元), full-width forms are read as ASCII, and
word boundaries follow `engine.chinese_text`: a boundary is only required between two non-CJK word
characters, so "北京" matches in "我想明天去北京" while "cat" still does not match in "category".

Values are JSON-ready (str, int, float): they end up in `Message.entities` and the parse API.
Plain Python, no Django: `nlu.services.training` builds an `EntityExtractor` from the bot's rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from engine import entities_zh
from engine.chinese_text import (
    CJK_CHAR,
    NOT_AFTER_WORD,
    NOT_BEFORE_WORD,
    cjk_aware_boundaries,
    contains_han,
    to_halfwidth,
)
from engine.types import Entity

# "amount" (99元, ¥1,299.50: a decimal string in yuan) is only found in Chinese-style text so far.
BUILTIN_ENTITIES: tuple[str, ...] = ("email", "phone", "number", "date", "time", "amount")

# Lower number = preferred when two spans of equal length overlap.
_EXTRACTOR_PRIORITY = {"lookup": 0, "regex": 1, "builtin": 2}


class EntityDefinitionError(ValueError):
    """A bot's entity definition cannot be used (e.g. a regex that does not compile)."""


@dataclass(frozen=True, slots=True)
class RegexEntityDef:
    name: str
    pattern: str


@dataclass(frozen=True, slots=True)
class LookupEntityDef:
    name: str
    # canonical value -> synonyms; the canonical value itself always matches too
    values: Mapping[str, Sequence[str]] = field(default_factory=dict)


def _whole_word_alternation(terms: Iterable[str]) -> re.Pattern[str] | None:
    # Longest first, so the regex engine prefers "new york city" over "new york" at the same start.
    unique = sorted({t.strip() for t in terms if t.strip()}, key=lambda t: (-len(t), t))
    if not unique:
        return None
    # Spaces in a term match any run of whitespace: "new  york" is still New York.
    body = "|".join(r"\s+".join(re.escape(part) for part in term.split()) for term in unique)
    # A term that starts (ends) with a CJK character has no word edge there: "北京" matches in "去北京玩"
    # and in "a北京". One edge test around the whole alternation, not one per term: per-term lookarounds
    # made a 500-term lookup ten times slower.
    return re.compile(
        rf"(?:{NOT_AFTER_WORD}|(?={CJK_CHAR}))(?:{body})(?:{NOT_BEFORE_WORD}|(?<={CJK_CHAR}))", re.IGNORECASE
    )


class _LookupMatcher:
    def __init__(self, definition: LookupEntityDef) -> None:
        self.name = definition.name
        self._canonical: dict[str, str] = {}
        for value, synonyms in definition.values.items():
            for term in (value, *synonyms):
                key = _normalise_term(term)
                if key:
                    # First definition wins, so a synonym shared by two values maps deterministically.
                    self._canonical.setdefault(key, value)
        self._pattern = _whole_word_alternation(self._canonical)

    def spans(self, text: str) -> Iterable[Entity]:
        if self._pattern is None:
            return
        for match in self._pattern.finditer(text):
            value = self._canonical[_normalise_term(match.group(0))]
            yield Entity(self.name, value, match.start(), match.end(), match.group(0), "lookup")


def _normalise_term(term: str) -> str:
    return " ".join(term.casefold().split())


class _RegexMatcher:
    def __init__(self, definition: RegexEntityDef) -> None:
        self.name = definition.name
        try:
            original = re.compile(definition.pattern, re.IGNORECASE)
        except re.error as exc:
            raise EntityDefinitionError(f"entity {definition.name!r}: bad regex: {exc}") from exc
        # An admin's `\b\d{5}\b` must find the order number in "订单号12345" too. Should the rewrite
        # ever break a valid pattern (a `\b` inside a `(?#...)` comment), the pattern stays as written.
        try:
            self._pattern = re.compile(cjk_aware_boundaries(definition.pattern), re.IGNORECASE)
        except re.error:
            self._pattern = original

    def spans(self, text: str) -> Iterable[Entity]:
        for match in self._pattern.finditer(text):
            if match.end() > match.start():  # a pattern that can match "" must not flood the result
                yield Entity(self.name, match.group(0), match.start(), match.end(), match.group(0), "regex")


# --- built-ins ---------------------------------------------------------------------------------

# Word edges below are NOT_AFTER_WORD / NOT_BEFORE_WORD, not \w: a Chinese character next to a match is
# no word continuation ("邮箱jane@example.com谢谢"); for text without CJK they are exactly (?<!\w) / (?!\w).
_EMAIL = re.compile(
    rf"(?<![.+-]){NOT_AFTER_WORD}[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{{2,}}{NOT_BEFORE_WORD}"
)
# 7-15 digits with the usual separators; a leading + keeps its meaning (international number).
_PHONE = re.compile(rf"(?<![+]){NOT_AFTER_WORD}(\+?\(?\d[\d\s().-]{{5,}}\d){NOT_BEFORE_WORD}")
_NUMBER_DIGITS = re.compile(
    rf"(?<![.,]){NOT_AFTER_WORD}-?\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?(?![,]|\.\d){NOT_BEFORE_WORD}"
    rf"|(?<![.,]){NOT_AFTER_WORD}-?\d+(?:\.\d+)?(?!\.\d){NOT_BEFORE_WORD}"
)
_NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "dozen": 12,
}
_NUMBER_WORD = re.compile(rf"{NOT_AFTER_WORD}(?:{'|'.join(_NUMBER_WORDS)}){NOT_BEFORE_WORD}", re.IGNORECASE)

_MONTHS = {
    name: index
    for index, name in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}
_MONTH_ALIASES = {**_MONTHS, **{name[:3]: index for name, index in _MONTHS.items()}, "sept": 9}
_MONTH_RE = "|".join(sorted(_MONTH_ALIASES, key=len, reverse=True))
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

_DATE_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
# Numeric dates are read month/day/year (US order) unless the first part cannot be a month.
_DATE_NUMERIC = re.compile(r"(?<![\d/.])(\d{1,2})[/.](\d{1,2})(?:[/.](\d{2,4}))?(?![\d/])")
_DATE_MONTH_DAY = re.compile(
    rf"{NOT_AFTER_WORD}({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?{NOT_BEFORE_WORD}",
    re.IGNORECASE,
)
_DATE_DAY_MONTH = re.compile(
    rf"{NOT_AFTER_WORD}(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH_RE})\.?(?:,?\s+(\d{{4}}))?{NOT_BEFORE_WORD}",
    re.IGNORECASE,
)
_DATE_RELATIVE = re.compile(
    rf"{NOT_AFTER_WORD}(today|tonight|tomorrow|yesterday|day after tomorrow){NOT_BEFORE_WORD}", re.IGNORECASE
)
_DATE_WEEKDAY = re.compile(
    rf"{NOT_AFTER_WORD}(?:(next|this|last)\s+)?({'|'.join(_WEEKDAYS)}){NOT_BEFORE_WORD}", re.IGNORECASE
)

_TIME_CLOCK = re.compile(
    rf"(?<![\d:])(\d{{1,2}}):(\d{{2}})(?:\s*([ap])\.?m\.?)?(?![\d:]){NOT_BEFORE_WORD}", re.IGNORECASE
)
_TIME_AMPM = re.compile(rf"(?<![\d:])(\d{{1,2}})\s*([ap])\.?m\.?{NOT_BEFORE_WORD}", re.IGNORECASE)
_TIME_WORDS = re.compile(rf"{NOT_AFTER_WORD}(noon|midday|midnight){NOT_BEFORE_WORD}", re.IGNORECASE)


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _full_year(year_text: str | None, today: dt.date) -> int:
    if not year_text:
        return today.year
    year = int(year_text)
    return year + 2000 if year < 100 else year


def _emails(text: str, today: dt.date) -> Iterable[Entity]:
    for m in _EMAIL.finditer(text):
        yield Entity("email", m.group(0).lower(), m.start(), m.end(), m.group(0), "builtin")


def _phones(text: str, today: dt.date) -> Iterable[Entity]:
    # In Chinese text a bare run of digits is far more often an order number or a code than a phone:
    # there only the mainland shapes of `entities_zh.phones` count (13812345678, 01012345678).
    chinese = contains_han(text)
    for m in _PHONE.finditer(text):
        span = m.group(1).rstrip(" .-")
        digits = re.sub(r"\D", "", span)
        # Fewer than 7 digits is a quantity or a code; more than 15 is not a phone number (E.164).
        if not 7 <= len(digits) <= 15 or _DATE_NUMERIC.fullmatch(span) or _DATE_ISO.fullmatch(span):
            continue
        if chinese and span.isdigit():
            continue
        value = ("+" if span.startswith("+") else "") + digits
        yield Entity("phone", value, m.start(1), m.start(1) + len(span), span, "builtin")


_MAX_NUMBER_LENGTH = 100


def _numbers(text: str, today: dt.date) -> Iterable[Entity]:
    for m in _NUMBER_DIGITS.finditer(text):
        raw = m.group(0).replace(",", "")
        if len(raw) > _MAX_NUMBER_LENGTH:
            continue  # a pasted digit wall: int() refuses over 4300 digits, float() turns into inf (not JSON)
        value: int | float = float(raw) if "." in raw else int(raw)
        yield Entity("number", value, m.start(), m.end(), m.group(0), "builtin")
    for m in _NUMBER_WORD.finditer(text):
        yield Entity("number", _NUMBER_WORDS[m.group(0).lower()], m.start(), m.end(), m.group(0), "builtin")


def _dates(text: str, today: dt.date) -> Iterable[Entity]:
    def entity(m: re.Match[str], value: str | None) -> Iterable[Entity]:
        if value is not None:
            yield Entity("date", value, m.start(), m.end(), m.group(0), "builtin")

    for m in _DATE_ISO.finditer(text):
        yield from entity(m, _iso(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    for m in _DATE_NUMERIC.finditer(text):
        first, second = int(m.group(1)), int(m.group(2))
        if m.group(3) is None and "." in m.group(0):
            continue  # "3.5" is a number, not the 5th of March
        month, day = (first, second) if first <= 12 else (second, first)
        yield from entity(m, _iso(_full_year(m.group(3), today), month, day))
    for m in _DATE_MONTH_DAY.finditer(text):
        month = _MONTH_ALIASES[m.group(1).lower()]
        yield from entity(m, _iso(_full_year(m.group(3), today), month, int(m.group(2))))
    for m in _DATE_DAY_MONTH.finditer(text):
        month = _MONTH_ALIASES[m.group(2).lower()]
        yield from entity(m, _iso(_full_year(m.group(3), today), month, int(m.group(1))))
    offsets = {"today": 0, "tonight": 0, "tomorrow": 1, "yesterday": -1, "day after tomorrow": 2}
    for m in _DATE_RELATIVE.finditer(text):
        yield from entity(m, (today + dt.timedelta(days=offsets[m.group(1).lower()])).isoformat())
    for m in _DATE_WEEKDAY.finditer(text):
        modifier = (m.group(1) or "").lower()
        weekday = _WEEKDAYS.index(m.group(2).lower())
        ahead = (weekday - today.weekday()) % 7
        if modifier == "last":
            delta = ahead - 7 if ahead else -7
        elif modifier == "next":
            delta = ahead or 7
        else:  # a bare or "this" weekday is the coming one (today counts)
            delta = ahead
        yield from entity(m, (today + dt.timedelta(days=delta)).isoformat())


def _hour_24(hour: int, meridiem: str | None) -> int | None:
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        return hour % 12 + (12 if meridiem.lower() == "p" else 0)
    return hour if 0 <= hour <= 23 else None


def _times(text: str, today: dt.date) -> Iterable[Entity]:
    for m in _TIME_CLOCK.finditer(text):
        hour, minute = _hour_24(int(m.group(1)), m.group(3)), int(m.group(2))
        if hour is not None and minute < 60:
            yield Entity("time", f"{hour:02d}:{minute:02d}", m.start(), m.end(), m.group(0), "builtin")
    for m in _TIME_AMPM.finditer(text):
        hour = _hour_24(int(m.group(1)), m.group(2))
        if hour is not None:
            yield Entity("time", f"{hour:02d}:00", m.start(), m.end(), m.group(0), "builtin")
    for m in _TIME_WORDS.finditer(text):
        value = "00:00" if m.group(1).lower() == "midnight" else "12:00"
        yield Entity("time", value, m.start(), m.end(), m.group(0), "builtin")


_Finder = Callable[[str, dt.date], Iterable[Entity]]


def _both(chinese: _Finder, english: _Finder) -> _Finder:
    # The Chinese finder's proposals come first: for two identical spans (0086-13812345678) the overlap
    # resolution keeps the earlier candidate, and the mainland reading ("+8613812345678") is the better one.
    def find(text: str, today: dt.date) -> Iterable[Entity]:
        return itertools.chain(chinese(text, today), english(text, today))

    return find


_BUILTIN_FUNCTIONS: dict[str, _Finder] = {
    "email": _emails,
    "phone": _both(entities_zh.phones, _phones),
    "number": _both(entities_zh.numbers, _numbers),
    "date": _both(entities_zh.dates, _dates),
    "time": _both(entities_zh.times, _times),
    "amount": entities_zh.amounts,
}


def _resolve_overlaps(candidates: list[Entity]) -> list[Entity]:
    preferred = sorted(candidates, key=lambda e: (-(e.end - e.start), _EXTRACTOR_PRIORITY[e.extractor], e.start))
    taken: list[Entity] = []
    for candidate in preferred:
        if all(candidate.end <= kept.start or candidate.start >= kept.end for kept in taken):
            taken.append(candidate)
    return sorted(taken, key=lambda e: e.start)


class EntityExtractor:
    """Finds a bot's entities in one message. Immutable after construction: safe to share across threads."""

    def __init__(
        self,
        *,
        regex_entities: Iterable[RegexEntityDef] = (),
        lookup_entities: Iterable[LookupEntityDef] = (),
        builtins: Iterable[str] = BUILTIN_ENTITIES,
    ) -> None:
        unknown = set(builtins) - set(BUILTIN_ENTITIES)
        if unknown:
            raise EntityDefinitionError(f"unknown built-in entities: {sorted(unknown)}")
        self._matchers: list[_LookupMatcher | _RegexMatcher] = [
            *(_LookupMatcher(d) for d in lookup_entities),
            *(_RegexMatcher(d) for d in regex_entities),
        ]
        self._builtins = [_BUILTIN_FUNCTIONS[name] for name in BUILTIN_ENTITIES if name in set(builtins)]

    def extract(self, text: str, *, today: dt.date | None = None) -> list[Entity]:
        """Entities in text order. `today` anchors relative dates ("tomorrow"); default: the local date."""
        today = today or dt.date.today()
        candidates: list[Entity] = []
        for matcher in self._matchers:
            candidates.extend(matcher.spans(text))
        # Built-ins read full-width forms as ASCII (１２３, ＋86); the mapping keeps offsets, and each
        # entity's `text` is taken back from what the visitor typed.
        halfwidth = to_halfwidth(text)
        for builtin in self._builtins:
            for entity in builtin(halfwidth, today):
                candidates.append(
                    entity if halfwidth == text else replace(entity, text=text[entity.start : entity.end])
                )
        return _resolve_overlaps(candidates)
