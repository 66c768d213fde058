"""Built-in entities in Chinese and mixed Chinese/English text (issue #16, item 2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pytest

from engine.chinese_text import cjk_aware_boundaries
from engine.entities import BUILTIN_ENTITIES, EntityExtractor, LookupEntityDef, RegexEntityDef

TODAY = dt.date(2026, 11, 18)  # a Wednesday, as in test_entities.py

CITIES = [LookupEntityDef("city", {"北京": ["帝都"], "上海": [], "New York": ["NYC"]})]
PETS = [LookupEntityDef("pet", {"cat": ["kitty"]})]


def extract(
    text: str,
    *,
    builtins: Iterable[str] = BUILTIN_ENTITIES,
    lookups: Iterable[LookupEntityDef] = (),
    regexes: Iterable[RegexEntityDef] = (),
    today: dt.date = TODAY,
) -> list[tuple[str, object, str]]:
    extractor = EntityExtractor(regex_entities=regexes, lookup_entities=lookups, builtins=builtins)
    return [(e.entity, e.value, e.text) for e in extractor.extract(text, today=today)]


def of_type(entity: str, text: str, *, today: dt.date = TODAY) -> list[tuple[object, str]]:
    return [(value, span) for name, value, span in extract(text, today=today) if name == entity]


# --- the sentences measured on main before this change ---------------------------------------------


def test_order_number_sentence() -> None:
    assert extract("订单号12345") == [("number", 12345, "12345")]
    order_id = [RegexEntityDef("order_id", r"\d{5}")]
    assert extract("订单号12345", regexes=order_id) == [("order_id", "12345", "12345")]  # beats the number


def test_phone_sentence() -> None:
    assert extract("我的电话13812345678") == [("phone", "13812345678", "13812345678")]


def test_date_and_city_sentence() -> None:
    assert extract("我想明天去北京", lookups=CITIES) == [("date", "2026-11-19", "明天"), ("city", "北京", "北京")]


def test_a_whole_mixed_message() -> None:
    assert extract("明天下午三点到北京，电话13812345678，预算五千元，邮箱jane@example.com谢谢", lookups=CITIES) == [
        ("date", "2026-11-19", "明天"),
        ("time", "15:00", "下午三点"),
        ("city", "北京", "北京"),
        ("phone", "13812345678", "13812345678"),
        ("amount", "5000", "五千元"),
        ("email", "jane@example.com", "jane@example.com"),
    ]


# --- numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("我要十二个", 12, "十二"),
        ("两百", 200, "两百"),
        ("大概3千", 3000, "3千"),
        ("一万五", 15000, "一万五"),
        ("一点五万", 15000, "一点五万"),
        ("1.5万", 15000, "1.5万"),
        ("零点五", 0.5, "零点五"),
        ("三点一四", 3.14, "三点一四"),
        ("百分之二十", 20, "百分之二十"),  # as "20%" gives 20
        ("百分之12.5的折扣", 12.5, "百分之12.5"),
        ("１２３", 123, "１２３"),  # full-width digits; the span is what the visitor typed
        ("买３千", 3000, "３千"),
        ("订单号12345", 12345, "12345"),  # ASCII digits glued to Chinese
        ("第三天", 3, "三"),
        ("来一个", 1, "一"),
        ("要两个", 2, "两"),
        ("十分钟", 10, "十"),
        ("我要三。", 3, "三"),  # a lone numeral that stands alone
        ("iPhone 15买两台", 2, "两"),
    ],
)
def test_chinese_numbers(text: str, value: int | float, span: str) -> None:
    found = of_type("number", text)
    assert found[-1] == (value, span)
    assert type(found[-1][0]) is type(value)  # int stays int, a fraction is a float like "1.5"


@pytest.mark.parametrize(
    "text",
    [
        "快一点",  # "a little"
        "有一点贵",
        "等一下",
        "我们一起去",
        "有一些问题",
        "都一样",
        "十分感谢",  # "very"
        "千万别忘了",  # "by all means"
        "万一不行呢",  # "in case"
        "统一价格",
        "第一",
        "四川",
        "三四个",  # "three or four": an estimate, not a number
        "一两天",
        "零食",
    ],
)
def test_words_made_of_numerals_are_not_numbers(text: str) -> None:
    assert of_type("number", text) == []


# --- phones ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("13812345678", "13812345678", "13812345678"),
        ("+86 138 1234 5678", "+8613812345678", "+86 138 1234 5678"),
        ("0086-13812345678", "+8613812345678", "0086-13812345678"),
        ("+86-138-1234-5678", "+8613812345678", "+86-138-1234-5678"),
        ("手机138-1234-5678", "13812345678", "138-1234-5678"),
        ("010-12345678", "01012345678", "010-12345678"),
        ("0755-1234567", "07551234567", "0755-1234567"),
        ("(010)12345678", "01012345678", "(010)12345678"),
        ("+86 10 12345678", "+861012345678", "+86 10 12345678"),
        ("我的电话13812345678谢谢", "13812345678", "13812345678"),
        ("座机01012345678", "01012345678", "01012345678"),
        ("电话：０１０－１２３４５６７８", "01012345678", "０１０－１２３４５６７８"),
        ("电话+1 415 555 0100", "+14155550100", "+1 415 555 0100"),  # a foreign number in Chinese text
    ],
)
def test_mainland_phones(text: str, value: str, span: str) -> None:
    assert of_type("phone", text) == [(value, span)]


@pytest.mark.parametrize(
    "text",
    [
        "订单号123456789012",  # 12 digits: an order number
        "订单号 123456789012",  # also with a space: in Chinese text bare digits need a mainland shape
        "号码138123456789",  # a mobile has exactly 11 digits
        "号码1381234567",
        "手机12812345678",  # mobiles start 13-19
        "验证码12345678",
    ],
)
def test_digit_runs_that_are_not_phones(text: str) -> None:
    assert of_type("phone", text) == []


def test_bare_digit_phones_still_count_in_english_text() -> None:
    assert of_type("phone", "call me on 4155550100") == [("4155550100", "4155550100")]


# --- dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("今天", "2026-11-18"),
        ("明天", "2026-11-19"),
        ("后天", "2026-11-20"),
        ("昨天", "2026-11-17"),
        ("大后天", "2026-11-21"),
        ("前天", "2026-11-16"),
        ("今晚", "2026-11-18"),
        ("下周一", "2026-11-23"),
        ("下星期三", "2026-11-25"),  # next calendar week, even said on a Wednesday
        ("本周五", "2026-11-20"),
        ("这个星期天", "2026-11-22"),
        ("上周五", "2026-11-13"),
        ("下下周一", "2026-11-30"),
        ("周日", "2026-11-22"),  # a bare weekday is the coming one
        ("周一", "2026-11-23"),
        ("周三", "2026-11-18"),  # today counts, as a bare "wednesday" does
        ("礼拜六", "2026-11-21"),
        ("3月5日", "2026-03-05"),
        ("3月5号", "2026-03-05"),
        ("2026年3月5日", "2026-03-05"),
        ("27年3月5日", "2027-03-05"),
        ("明年3月5日", "2027-03-05"),
        ("十二月二十五号", "2026-12-25"),
        ("二〇二七年一月一日", "2027-01-01"),
        ("下个月3号", "2026-12-03"),
        ("下月15日", "2026-12-15"),
        ("本月30号", "2026-11-30"),
        ("上个月1号", "2026-10-01"),
        ("2026/3/5", "2026-03-05"),
        ("2026.3.5", "2026-03-05"),
        ("我想明天去北京", "2026-11-19"),
        ("订单3月5日发货了吗", "2026-03-05"),
    ],
)
def test_chinese_dates(text: str, value: str) -> None:
    assert [found for found, _ in of_type("date", text)] == [value]


def test_next_month_crosses_the_year() -> None:
    assert of_type("date", "下个月3号", today=dt.date(2026, 12, 10)) == [("2027-01-03", "下个月3号")]


@pytest.mark.parametrize("text", ["每天", "一周一次", "每周一开会", "2月30日", "13月1日", "周末", "下个月"])
def test_not_dates(text: str) -> None:
    assert of_type("date", text) == []


# --- times -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("下午三点", "15:00", "下午三点"),
        ("晚上8点半", "20:30", "晚上8点半"),
        ("早上7:30", "07:30", "早上7:30"),
        ("早上７：３０", "07:30", "早上７：３０"),
        ("晚上7:30", "19:30", "晚上7:30"),
        ("三点一刻", "03:15", "三点一刻"),
        ("下午三点三刻", "15:45", "下午三点三刻"),
        ("中午12点", "12:00", "中午12点"),
        ("中午1点", "13:00", "中午1点"),
        ("晚上12点", "00:00", "晚上12点"),
        ("凌晨两点", "02:00", "凌晨两点"),
        ("下午3点45分", "15:45", "下午3点45分"),
        ("八点十五", "08:15", "八点十五"),
        ("三点零五分", "03:05", "三点零五分"),
        ("十点整", "10:00", "十点整"),
        ("三点钟", "03:00", "三点钟"),
        ("二十三点", "23:00", "二十三点"),
        ("下午 3点", "15:00", "下午 3点"),
        ("一点半", "01:30", "一点半"),
        ("下午一点", "13:00", "下午一点"),
        ("中午", "12:00", "中午"),
        ("今晚8点到", "20:00", "8点"),  # 今晚 stays the date; its 晚 still makes 8点 an evening hour
        ("明早7点", "07:00", "7点"),
        ("周三三点", "03:00", "三点"),
    ],
)
def test_chinese_times(text: str, value: str, span: str) -> None:
    assert of_type("time", text) == [(value, span)]


def test_evening_date_and_time_side_by_side() -> None:
    assert extract("今晚8点") == [("date", "2026-11-18", "今晚"), ("time", "20:00", "8点")]


@pytest.mark.parametrize("text", ["快一点", "有一点贵", "一点点", "零点五"])
def test_not_times(text: str) -> None:
    assert of_type("time", text) == []


def test_zero_point_five_is_a_number_not_five_past_midnight() -> None:
    assert extract("零点五") == [("number", 0.5, "零点五")]


# --- amounts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "span"),
    [
        ("¥99", "99", "¥99"),
        ("￥1,299.50", "1299.50", "￥1,299.50"),
        ("99元", "99", "99元"),
        ("99.5元", "99.50", "99.5元"),
        ("五十块", "50", "五十块"),
        ("3千元", "3000", "3千元"),
        ("100块钱", "100", "100块钱"),
        ("一块钱", "1", "一块钱"),
        ("两百块", "200", "两百块"),
        ("1.5万元", "15000", "1.5万元"),
        ("RMB 99", "99", "RMB 99"),
        ("99rmb", "99", "99rmb"),
        ("这个99元吗", "99", "99元"),
        ("退我３０元", "30", "３０元"),
    ],
)
def test_amounts(text: str, value: str, span: str) -> None:
    assert of_type("amount", text) == [(value, span)]


def test_an_amount_is_one_entity_not_a_number_too() -> None:
    assert extract("一共99元") == [("amount", "99", "99元")]


@pytest.mark.parametrize("text", ["我们一块儿去", "我们一块去", "三单元", "元旦快乐", "99"])
def test_not_amounts(text: str) -> None:
    assert of_type("amount", text) == []


# --- lookups and regexes in unsegmented text --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("我想明天去北京", [("city", "北京", "北京")]),
        ("帝都天气怎么样", [("city", "北京", "帝都")]),  # a synonym, glued
        ("北京市和上海", [("city", "北京", "北京"), ("city", "上海", "上海")]),
        ("飞NYC的航班", [("city", "New York", "NYC")]),  # an English term between Chinese characters
        ("Flights to nyc", [("city", "New York", "nyc")]),
        ("NYCE", []),  # English word boundaries still hold
    ],
)
def test_lookups_match_inside_chinese_text(text: str, found: list[tuple[str, str, str]]) -> None:
    assert extract(text, lookups=CITIES, builtins=()) == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("category", []),
        ("the cat sat", [("pet", "cat", "cat")]),
        ("买cat粮", [("pet", "cat", "cat")]),
        ("cats", []),
        ("kitty猫", [("pet", "cat", "kitty")]),
    ],
)
def test_english_lookups_keep_english_word_boundaries(text: str, found: list[tuple[str, str, str]]) -> None:
    assert extract(text, lookups=PETS, builtins=()) == found


@pytest.mark.parametrize(
    ("pattern", "text", "match"),
    [
        (r"\d{5}", "订单号12345", "12345"),
        (r"\b\d{5}\b", "订单号12345", "12345"),  # the admin's \b sees the Chinese neighbour as an edge
        (r"\b\d{5}\b", "订单号12345到了吗", "12345"),
        (r"(?<!\d)\d{5}(?!\d)", "订单号12345", "12345"),
        (r"\bORD-\d+\b", "我的订单ORD-778899呢", "ORD-778899"),
        (r"\b北京\b", "去北京玩", "北京"),
        (r"\bcat\b", "category", None),  # English words are unchanged
        (r"\b\d{5}\b", "order123456", None),
        (r"\B\d{3}\B", "a12345b", "123"),
    ],
)
def test_regex_entities_in_chinese_text(pattern: str, text: str, match: str | None) -> None:
    found = extract(text, regexes=[RegexEntityDef("order_id", pattern)], builtins=())
    assert found == ([] if match is None else [("order_id", match, match)])


@pytest.mark.parametrize(
    ("pattern", "kept"),
    [
        (r"\\b", r"\\b"),  # an escaped backslash, then the letter b
        (r"[\b]", r"[\b]"),  # a backspace inside a class
        (r"[]\b]", r"[]\b]"),  # "]" first in a class is a member, the class goes on
        (r"[^]\b]", r"[^]\b]"),
        (r"\d{5}", r"\d{5}"),
    ],
)
def test_boundary_rewrite_leaves_other_escapes_alone(pattern: str, kept: str) -> None:
    assert cjk_aware_boundaries(pattern) == kept


def test_boundary_rewrite_outside_classes() -> None:
    rewritten = cjk_aware_boundaries(r"[a]\b\d+\B")
    assert rewritten.startswith("[a](?:\\b|") and "\\B(?<!" in rewritten


def test_a_comment_the_rewrite_would_break_keeps_the_pattern_as_written() -> None:
    found = extract("x 12345", regexes=[RegexEntityDef("code", r"(?#five \b digits)\d{5}")], builtins=())
    assert found == [("code", "12345", "12345")]


def test_offsets_point_into_the_original_full_width_text() -> None:
    text = "订单１２３４５，电话１３８１２３４５６７８"
    entities = EntityExtractor().extract(text, today=TODAY)
    assert [(e.entity, e.value) for e in entities] == [("number", 12345), ("phone", "13812345678")]
    assert all(text[e.start : e.end] == e.text for e in entities)


@pytest.mark.parametrize("text", ["订单" + "1" * 5000, "一万" * 3000, "13812345678" * 300])
def test_pasted_walls_of_digits_do_not_break_extraction(text: str) -> None:
    assert of_type("number", text) == []


@pytest.mark.parametrize("text", ["¥" + "9" * 5000, "9" * 5000 + "元"])
def test_pasted_walls_of_digits_are_no_amount(text: str) -> None:
    assert of_type("amount", text) == []
