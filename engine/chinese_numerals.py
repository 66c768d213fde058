"""Chinese numerals to numbers: 十二 -> 12, 两百 -> 200, 3千 -> 3000, 一万五 -> 15000, 零点五 -> 0.5.

Reads what people type in a chat, not only textbook forms: ASCII digits mixed with units (3千, 1.5万),
the colloquial elision of the last unit (一万五 is 15000, 两百五 is 250), 两 for 2, traditional and
financial characters (兩, 萬, 億, 壹, 贰, 拾, 佰, 仟). Anything that is not one well-formed number gives
None, so a caller can use the parser to reject words that merely contain numerals (千万, 万一, 一一).

Integral results are int, others Decimal (exact: callers decide whether a float is good enough).
"""

from __future__ import annotations

import re
from decimal import Decimal

ZERO_CHARS = "零〇"
# Digit characters, 零/〇 included; 两/兩 is the 2 used before units and classifiers.
DIGIT_VALUES: dict[str, int] = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "壹": 1,
    "二": 2,
    "贰": 2,
    "貳": 2,
    "两": 2,
    "兩": 2,
    "三": 3,
    "叁": 3,
    "參": 3,
    "四": 4,
    "肆": 4,
    "五": 5,
    "伍": 5,
    "六": 6,
    "陆": 6,
    "陸": 6,
    "七": 7,
    "柒": 7,
    "八": 8,
    "捌": 8,
    "九": 9,
    "玖": 9,
}
# Units below 10^4 multiply the digit before them; a section of them stays below 10^4.
SMALL_UNIT_VALUES: dict[str, int] = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
# 万 and 亿 multiply everything before them, so 三千万 is (三千) x 万.
LARGE_UNIT_VALUES: dict[str, int] = {"亿": 10**8, "億": 10**8, "万": 10**4, "萬": 10**4}
DECIMAL_POINT_CHARS = "点點"

DIGIT_CHARS = "".join(DIGIT_VALUES)
UNIT_CHARS = "".join(SMALL_UNIT_VALUES) + "".join(LARGE_UNIT_VALUES)
NUMERAL_CHARS = DIGIT_CHARS + UNIT_CHARS
LARGE_UNIT_CHARS = "".join(LARGE_UNIT_VALUES)

MAX_NUMERAL_LENGTH = 40

# One token: a run of ASCII digits (maybe with a decimal part, as in 1.5万) or one character.
_TOKEN = re.compile(r"\d+(?:\.\d+)?|.", re.DOTALL)


def parse_chinese_number(text: str) -> int | Decimal | None:
    """The value of one whole numeral, or None when `text` is not exactly one number."""
    text = text.strip()
    # No real numeral is this long; a cap also bounds the parser's recursion (one level per 万 or 亿)
    # whatever a visitor pastes.
    if not text or len(text) > MAX_NUMERAL_LENGTH:
        return None
    point = next((i for i, ch in enumerate(text) if ch in DECIMAL_POINT_CHARS), -1)
    if point < 0:
        return _as_int_if_integral(_parse_integer(_tokens(text)))
    integer_text, fraction_text = text[:point], text[point + 1 :]
    # 一点五万 is 1.5 x 10^4: a large unit after the fraction scales the whole number.
    scale = 1
    if fraction_text and fraction_text[-1] in LARGE_UNIT_VALUES:
        scale, fraction_text = LARGE_UNIT_VALUES[fraction_text[-1]], fraction_text[:-1]
    integer = _parse_integer(_tokens(integer_text))
    fraction_digits = parse_chinese_digits(fraction_text)
    if integer is None or fraction_digits is None:
        return None
    return _as_int_if_integral((integer + Decimal(f"0.{fraction_digits}")) * scale)


def parse_chinese_digits(text: str) -> str | None:
    """Digits read one by one (二〇二六 -> "2026", 1三8 -> "138"); None if anything else is in `text`."""
    if not text:
        return None
    digits: list[str] = []
    for ch in text:
        if ch in DIGIT_VALUES:
            digits.append(str(DIGIT_VALUES[ch]))
        elif "0" <= ch <= "9":
            digits.append(ch)
        else:
            return None
    return "".join(digits)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _as_int_if_integral(value: Decimal | None) -> int | Decimal | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else value


def _digit_value(token: str) -> Decimal | None:
    if token in DIGIT_VALUES:
        return Decimal(DIGIT_VALUES[token])
    if token[0].isascii() and token[0].isdigit():
        return Decimal(token)
    return None


def _parse_integer(tokens: list[str]) -> Decimal | None:
    """Split at the first 亿, else the first 万: left x unit + the rest (一万五 elides 千)."""
    for index, token in enumerate(tokens):
        if token not in LARGE_UNIT_VALUES:
            continue
        if not any(t in LARGE_UNIT_VALUES and LARGE_UNIT_VALUES[t] > LARGE_UNIT_VALUES[token] for t in tokens):
            unit = LARGE_UNIT_VALUES[token]
            multiplier = _parse_integer(tokens[:index])
            if multiplier is None or multiplier == 0:  # 万 and 亿 need a number before them: 千万, 万一
                return None
            rest = _parse_after_large_unit(tokens[index + 1 :], unit)
            if rest is None or rest >= unit:
                return None
            return multiplier * unit + rest
    return _parse_section(tokens)


def _parse_after_large_unit(tokens: list[str], unit: int) -> Decimal | None:
    if not tokens:
        return Decimal(0)
    if len(tokens) == 1 and len(tokens[0]) == 1 and tokens[0] not in ZERO_CHARS:
        digit = _digit_value(tokens[0])
        # 一万五 is 15000: a lone digit right after the unit counts in the next unit down.
        return None if digit is None else digit * (unit // 10)
    if tokens[0] in ZERO_CHARS:  # 一万零五 is 10005: the zero says "no elision"
        tokens = tokens[1:]
        if not tokens:
            return None
    return _parse_integer(tokens)


def _parse_section(tokens: list[str]) -> Decimal | None:
    """A number below 10^4 written with 十/百/千 (or a plain digit run): 三千零五, 十二, 两百五, 3千."""
    if not tokens:
        return None
    value = Decimal(0)
    pending: Decimal | None = None
    last_unit = 10**4
    after_zero = False
    for token in tokens:
        if token in ZERO_CHARS:
            if pending is not None:  # 五零: digits read one by one are not a quantity
                return None
            after_zero = True
            continue
        digit = _digit_value(token)
        if digit is not None:
            if pending is not None:  # 一一, 三四: two digits in a row
                return None
            pending = digit
            continue
        unit = SMALL_UNIT_VALUES.get(token)
        if unit is None or unit >= last_unit:
            return None
        if pending is None:
            if unit != 10:  # only 十 may stand alone (十二 is 12); 百 and 千 need a digit
                return None
            pending = Decimal(1)
        value += pending * unit
        pending, last_unit, after_zero = None, unit, False
    if pending is not None:
        if last_unit in (100, 1000) and not after_zero and pending < 10 and pending == int(pending):
            value += pending * (last_unit // 10)  # 两百五 is 250, 三千二 is 3200
        else:
            value += pending
    return value
