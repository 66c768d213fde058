"""Built-in entity finders for Chinese text: phone, number, date, time, amount.

Each finder has the English finders' signature, `(text, today) -> entities`, and
`engine.entities` runs it beside them: overlapping proposals are settled there (longest span wins), so
a finder here may propose "三点" even though "下午三点" will win. The text arrives with full-width
forms already mapped to ASCII (１２３ -> 123), so the patterns only deal with ASCII digits.

Values follow the English finders: phone -> digits with "+" for an international prefix, number ->
int or float, date -> ISO date, time -> "HH:MM", amount -> a decimal string in yuan (the only currency
recognised, so the currency is implied: `Entity` has no field for it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal

from engine.chinese_numerals import (
    DECIMAL_POINT_CHARS,
    DIGIT_CHARS,
    LARGE_UNIT_CHARS,
    LARGE_UNIT_VALUES,
    MAX_NUMERAL_LENGTH,
    NUMERAL_CHARS,
    parse_chinese_digits,
    parse_chinese_number,
)
from engine.chinese_text import NOT_AFTER_WORD, NOT_BEFORE_WORD
from engine.types import Entity

# --- phone ---------------------------------------------------------------------------------------

# +86 / 0086, then a mobile: 1[3-9]x xxxx xxxx (11 digits), spaces or dashes allowed between groups.
_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_INTERNATIONAL_PREFIX = re.compile(r"(?:\+|00)86")
# Area codes: 010, 02x, then three digits after the 0 (0755); local numbers have 7 or 8 digits.
_AREA_CODE = r"(10|2\d|[3-9]\d{2})"
_LANDLINE = re.compile(
    rf"(?<![\d+])(?:((?:\+|00)86)[\s-]?\(?0?{_AREA_CODE}\)?|\(?0{_AREA_CODE}\)?)[\s-]?(\d{{7,8}})(?!\d)"
)


def phones(text: str, today: dt.date) -> Iterable[Entity]:
    """Mainland mobiles and landlines, also glued to Chinese text (我的电话13812345678谢谢)."""
    for m in _MOBILE.finditer(text):
        prefix = "+86" if _INTERNATIONAL_PREFIX.match(m.group(0)) else ""
        yield _entity("phone", prefix + "".join(m.groups()), m)
    for m in _LANDLINE.finditer(text):
        international, area = m.group(1), m.group(2) or m.group(3)
        value = ("+86" if international else "0") + area + m.group(4)
        yield _entity("phone", value, m)


# --- number --------------------------------------------------------------------------------------

# A numeral: ASCII digits and numeral characters mixed (3千, 一万五, 1.5万), maybe a fraction (零点五).
# The digit run is possessive (\d++): with a plain \d+ inside the repeated group, a long digit run that
# is not followed by what a pattern needs (13812345678 before no 元) is re-split in 2^n ways.
NUMERAL_PATTERN = (
    rf"(?:\d++(?:\.\d+)?|[{NUMERAL_CHARS}])+"
    rf"(?:[{DECIMAL_POINT_CHARS}][{DIGIT_CHARS}0-9]+[{LARGE_UNIT_CHARS}]?)?"
)
_NUMERAL = re.compile(rf"(?<![{NUMERAL_CHARS}\d.]){NOT_AFTER_WORD}{NUMERAL_PATTERN}")
_PERCENT = re.compile(rf"百分之({NUMERAL_PATTERN})")
# After one numeral character, a classifier makes it a count (一个, 三天); without one it is too often
# part of a word to report: 一下, 一起, 一样, 快一点, 十分 (very), 四川, 统一, 第一.
_CLASSIFIER_AFTER = re.compile(
    "个|個|位|件|张|張|份|次|天|周|週|年|岁|歲|人|台|部|本|条|條|只|支|双|雙|对|對|套|瓶|杯|箱|包|袋|盒|斤|"
    "公斤|千克|克|米|公里|间|間|家|种|種|遍|趟|层|層|楼|樓|号|號|辆|輛|颗|顆|片|页|頁|晚|夜|单|單|笔|筆|"
    "项|項|折|倍|小时|小時|分钟|分鐘|秒|星期|礼拜|禮拜|口|座|副"
)
# ... or it stands alone ("我要三。"), except 一, which alone is nearly always part of a word.
_STANDS_ALONE = re.compile(r"(?!\w)")
_ALWAYS_NEEDS_CLASSIFIER = "一壹"


def numbers(text: str, today: dt.date) -> Iterable[Entity]:
    """十二, 两百, 3千, 一万五, 零点五, 百分之二十 (-> 20, as "20%" gives 20)."""
    for m in _NUMERAL.finditer(text):
        span = m.group(0)
        if not any(char in NUMERAL_CHARS or char in DECIMAL_POINT_CHARS for char in span):
            continue  # plain ASCII digits: the English finder's
        if len(span) == 1 and not _single_numeral_is_a_number(span, text, m.end()):
            continue
        value = parse_chinese_number(span)
        if value is not None:
            yield _entity("number", _json_number(value), m)
    for m in _PERCENT.finditer(text):
        value = parse_chinese_number(m.group(1))
        if value is not None:
            yield _entity("number", _json_number(value), m)


def _single_numeral_is_a_number(numeral: str, text: str, end: int) -> bool:
    if _CLASSIFIER_AFTER.match(text, end):
        return True
    return numeral not in _ALWAYS_NEEDS_CLASSIFIER and _STANDS_ALONE.match(text, end) is not None


def _json_number(value: int | Decimal) -> int | float:
    return value if isinstance(value, int) else float(value)


# --- amount --------------------------------------------------------------------------------------

_ASCII_AMOUNT = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_AMOUNT_AFTER_SYMBOL = re.compile(
    rf"(?:[¥￥]\s?|(?<![A-Za-z])(?:RMB|CNY)\s?)({_ASCII_AMOUNT})([{LARGE_UNIT_CHARS}千])?{NOT_BEFORE_WORD}",
    re.IGNORECASE,
)
# 块 is also "piece" and 一块(儿) is "together": 一块儿 never counts, a lone 一块 only as 一块钱.
_AMOUNT_BEFORE_UNIT = re.compile(
    rf"(?<![{NUMERAL_CHARS}\d.,]){NOT_AFTER_WORD}"
    rf"((?:{_ASCII_AMOUNT})[{LARGE_UNIT_CHARS}千]?|{NUMERAL_PATTERN})\s?"
    rf"(块钱|塊錢|块|塊|元|圆|圓|人民币|人民幣|RMB|CNY)(?![儿兒]){NOT_BEFORE_WORD}",
    re.IGNORECASE,
)
_AMOUNT_SCALE = {**LARGE_UNIT_VALUES, "千": 1000}


def amounts(text: str, today: dt.date) -> Iterable[Entity]:
    """¥99, ￥1,299.50, 99元, 五十块, 3千元, 100块钱 -> "99", "1299.50", ..., "3000", "100"."""
    for m in _AMOUNT_AFTER_SYMBOL.finditer(text):
        if len(m.group(1)) > MAX_NUMERAL_LENGTH:
            continue  # a pasted digit wall, not a price (and int() refuses over 4300 digits)
        value = Decimal(m.group(1).replace(",", "")) * _AMOUNT_SCALE.get(m.group(2) or "", 1)
        yield _entity("amount", _decimal_string(value), m)
    for m in _AMOUNT_BEFORE_UNIT.finditer(text):
        quantity, unit = m.group(1), m.group(2)
        if quantity in _ALWAYS_NEEDS_CLASSIFIER and unit in ("块", "塊"):
            continue
        if len(quantity) > MAX_NUMERAL_LENGTH:
            continue
        parsed = _parse_amount_quantity(quantity)
        if parsed is not None:
            yield _entity("amount", _decimal_string(parsed), m)


def _parse_amount_quantity(quantity: str) -> Decimal | None:
    plain = quantity.replace(",", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", plain):
        return Decimal(plain)
    value = parse_chinese_number(plain)
    return None if value is None else Decimal(value)


def _decimal_string(value: Decimal) -> str:
    """Whole yuan without decimals ("99"), otherwise at least two (fen): "1299.50", "0.50"."""
    if value == value.to_integral_value():
        return str(int(value))
    text = format(value.normalize(), "f")
    return text + "0" if len(text.partition(".")[2]) == 1 else text


# --- date ----------------------------------------------------------------------------------------

_RELATIVE_DAYS = {
    "大前天": -3,
    "前天": -2,
    "昨天": -1,
    "昨日": -1,
    "昨晚": -1,
    "昨儿": -1,
    "今天": 0,
    "今日": 0,
    "今晚": 0,
    "今早": 0,
    "今儿": 0,
    "明天": 1,
    "明日": 1,
    "明早": 1,
    "明晚": 1,
    "明儿": 1,
    "后天": 2,
    "後天": 2,
    "大后天": 3,
    "大後天": 3,
}
_DATE_RELATIVE = re.compile("|".join(sorted(_RELATIVE_DAYS, key=len, reverse=True)))

_WEEKDAY_INDEX = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
# 下周 / 下个月: how many weeks or months from the current one.
_RELATIVE_OFFSETS = {"上上": -2, "上": -1, "本": 0, "这": 0, "這": 0, "下": 1, "下下": 2}
# Not after a numeral or 每: 一周一次 is "once a week", 每周一 is every Monday, not one date.
_DATE_WEEKDAY = re.compile(
    rf"(?<![{NUMERAL_CHARS}\d几每])(上上|下下|上|下|本|这|這)?[个個]?(?:周|週|星期|礼拜|禮拜)([一二三四五六日天])"
)

_YEAR_WORDS = {"前年": -2, "去年": -1, "今年": 0, "明年": 1, "后年": 2, "後年": 2}
_MONTH_OR_DAY = r"(\d{1,2}|[一二三四五六七八九十]{1,3})"
_DATE_YEAR_MONTH_DAY = re.compile(
    rf"(?<!\d)(?:(\d{{4}}|\d{{2}}|[{DIGIT_CHARS}]{{2,4}})年|({'|'.join(_YEAR_WORDS)}))?"
    rf"{_MONTH_OR_DAY}月份?{_MONTH_OR_DAY}[日号號]"
)
_DATE_DAY_OF_RELATIVE_MONTH = re.compile(rf"(上上|下下|上|下|本|这|這)[个個]?月的?{_MONTH_OR_DAY}[日号號]")
# Year first, as dates are written in China: 2026/3/5, 2026.3.5.
_DATE_SLASHED = re.compile(r"(?<![\d/.])(\d{4})[/.](\d{1,2})[/.](\d{1,2})(?![\d/]|\.\d)")


def dates(text: str, today: dt.date) -> Iterable[Entity]:
    """今天, 明天, 大后天, 下周一, 本周五, 周日, 3月5日, 2026年3月5号, 下个月3号 -> ISO dates."""
    for m in _DATE_RELATIVE.finditer(text):
        yield _entity("date", (today + dt.timedelta(days=_RELATIVE_DAYS[m.group(0)])).isoformat(), m)
    monday = today - dt.timedelta(days=today.weekday())
    for m in _DATE_WEEKDAY.finditer(text):
        weekday = _WEEKDAY_INDEX[m.group(2)]
        if m.group(1) is None:  # a bare 周五 is the coming one (today counts), as a bare "friday"
            day = today + dt.timedelta(days=(weekday - today.weekday()) % 7)
        else:  # 下周一 is Monday of next calendar week (weeks start on Monday in China)
            day = monday + dt.timedelta(weeks=_RELATIVE_OFFSETS[m.group(1)], days=weekday)
        yield _entity("date", day.isoformat(), m)
    for m in _DATE_YEAR_MONTH_DAY.finditer(text):
        year = _year(m.group(1), m.group(2), today)
        month, day_of_month = _small_number(m.group(3)), _small_number(m.group(4))
        if year is not None and month is not None and day_of_month is not None:
            yield from _date_entity(m, year, month, day_of_month)
    for m in _DATE_DAY_OF_RELATIVE_MONTH.finditer(text):
        month_index = today.year * 12 + today.month - 1 + _RELATIVE_OFFSETS[m.group(1)]
        day_of_month = _small_number(m.group(2))
        if day_of_month is not None:
            yield from _date_entity(m, month_index // 12, month_index % 12 + 1, day_of_month)
    for m in _DATE_SLASHED.finditer(text):
        yield from _date_entity(m, int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _year(written: str | None, word: str | None, today: dt.date) -> int | None:
    if word is not None:
        return today.year + _YEAR_WORDS[word]
    if written is None:
        return today.year
    digits = parse_chinese_digits(written)  # 二〇二六 is read digit by digit
    if digits is None or len(digits) not in (2, 4):
        return None
    year = int(digits)
    return year + 2000 if year < 100 else year


def _small_number(text: str) -> int | None:
    value = parse_chinese_number(text)
    return value if isinstance(value, int) else None


def _date_entity(m: re.Match[str], year: int, month: int, day: int) -> Iterable[Entity]:
    try:
        yield _entity("date", dt.date(year, month, day).isoformat(), m)
    except ValueError:  # 2月30日, 13月1日: not a date
        return


# --- time ----------------------------------------------------------------------------------------

# Periods of the day decide the 12-hour reading: 下午三点 is 15:00, 晚上12点 is midnight.
_PERIOD_KIND = {
    "凌晨": "small_hours",
    "清晨": "morning",
    "早上": "morning",
    "早晨": "morning",
    "上午": "morning",
    "中午": "noon",
    "正午": "noon",
    "下午": "afternoon",
    "傍晚": "afternoon",
    "晚上": "evening",
    "晚间": "evening",
    "晚間": "evening",
    "夜里": "night",
    "夜裡": "night",
    "夜间": "night",
    "半夜": "night",
    "深夜": "night",
}
# 今晚8点, 明早7点: the period is the last character of a date word, which stays a date; read it from
# the character before the hour instead of consuming it.
_PERIOD_OF_PRECEDING_CHAR = {"晚": "evening", "早": "morning"}
_HOUR = r"(\d{1,2}|二十[一二三四]?|十[一二三四五六七八九]?|[零〇一二两兩三四五六七八九])"
# Minutes without 分 must not look like a decimal: 三点十五 is 03:15, but 零点五 stays the number 0.5.
_BARE_MINUTES = r"\d{2}|[零〇][一二三四五六七八九]|[二三四五]?十[一二三四五六七八九]?"
_MINUTES_WITH_FEN = r"\d{1,2}|[零〇]?[一二三四五六七八九]|[二三四五]?十[一二三四五六七八九]?"
_TIME_ZH = re.compile(
    rf"(?:({'|'.join(_PERIOD_KIND)})\s?)?(?<![\d十]){_HOUR}"
    rf"(?:[点點时時](?:([钟鐘整])|(半)|([一三])刻|({_MINUTES_WITH_FEN})分|({_BARE_MINUTES})(?![\d{NUMERAL_CHARS}]))?"
    rf"|:(\d{{2}})(?!\d))"
)
_TIME_NAMED = re.compile("中午|正午|午夜")
_QUARTERS = {"一": 1, "三": 3}  # 一刻 is a quarter past, 三刻 three quarters


def times(text: str, today: dt.date) -> Iterable[Entity]:
    """下午三点 -> 15:00, 晚上8点半 -> 20:30, 早上7:30 -> 07:30, 三点一刻 -> 03:15, 中午12点 -> 12:00."""
    for m in _TIME_ZH.finditer(text):
        period_word, hour_text = m.group(1), m.group(2)
        fixed_hour, half, quarters, minutes_fen, minutes_bare, colon_minutes = m.group(3, 4, 5, 6, 7, 8)
        period = _PERIOD_KIND.get(period_word or "")
        if period is None and m.start() > 0:
            period = _PERIOD_OF_PRECEDING_CHAR.get(text[m.start() - 1])
        if colon_minutes is not None and period is None:
            continue  # a plain 7:30 is the English clock finder's
        has_minutes = any(part is not None for part in (fixed_hour, half, quarters, minutes_fen, minutes_bare))
        if hour_text in ("一", "壹") and period is None and not has_minutes:
            continue  # 快一点, 有一点: "a little", not one o'clock
        hour = _small_number(hour_text)
        minute = _minute(half, quarters, minutes_fen or minutes_bare or colon_minutes)
        hour_24 = None if hour is None else _hour_24(hour, period)
        if hour_24 is not None and minute is not None and minute < 60:
            yield _entity("time", f"{hour_24:02d}:{minute:02d}", m)
    for m in _TIME_NAMED.finditer(text):
        yield _entity("time", "00:00" if m.group(0) == "午夜" else "12:00", m)


def _minute(half: str | None, quarters: str | None, written: str | None) -> int | None:
    if half is not None:
        return 30
    if quarters is not None:
        return 15 * _QUARTERS[quarters]
    if written is None:
        return 0
    return _small_number(written)


def _hour_24(hour: int, period: str | None) -> int | None:
    if not 0 <= hour <= 24:
        return None
    if hour == 24:
        return 0
    if period in ("afternoon", "noon"):
        # 下午三点 is 15:00; at noon only 1-2 are afternoon hours (中午1点 is 13:00, 中午11点 is 11:00).
        if period == "noon" and hour > 2:
            return hour
        return hour + 12 if 1 <= hour <= 11 else hour
    if period == "evening":  # 晚上8点 is 20:00, 晚上12点 midnight, 晚上1点 already the small hours
        return hour + 12 if 5 <= hour <= 11 else (0 if hour == 12 else hour)
    if period == "night":  # 夜里11点 is 23:00, 半夜2点 is 02:00
        return hour + 12 if 6 <= hour <= 11 else (0 if hour == 12 else hour)
    if period == "small_hours":
        return 0 if hour == 12 else hour
    return hour  # morning or none: 上午12点 stays noon, 三点 is 03:00 as "3:00" is


def _entity(name: str, value: object, m: re.Match[str]) -> Entity:
    return Entity(name, value, m.start(), m.end(), m.group(0), "builtin")
