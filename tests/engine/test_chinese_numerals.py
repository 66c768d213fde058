from __future__ import annotations

from decimal import Decimal

import pytest

from engine.chinese_numerals import parse_chinese_digits, parse_chinese_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("零", 0),
        ("一", 1),
        ("两", 2),
        ("十", 10),
        ("十二", 12),
        ("一十二", 12),
        ("二十", 20),
        ("三十五", 35),
        ("一百", 100),
        ("两百", 200),
        ("一百零五", 105),
        ("一百一十", 110),
        ("一百十", 110),
        ("两百五", 250),  # the last unit elided: 两百五(十)
        ("三千二", 3200),
        ("一千零十", 1010),
        ("一万", 10_000),
        ("一万五", 15_000),
        ("一万零五", 10_005),  # 零 says "no elision"
        ("一万五千", 15_000),
        ("十万五", 105_000),
        ("两万三千四百五十六", 23_456),
        ("三亿五千万", 350_000_000),
        ("一万亿", 10**12),
        ("3千", 3000),
        ("3千5", 3500),
        ("12万", 120_000),
        ("3万5千", 35_000),
        ("1.5万", 15_000),
        ("12", 12),
        ("壹佰贰拾", 120),  # financial characters, as on invoices
        ("兩萬", 20_000),  # traditional
    ],
)
def test_integers(text: str, value: int) -> None:
    parsed = parse_chinese_number(text)
    assert parsed == value
    assert isinstance(parsed, int)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("零点五", Decimal("0.5")),
        ("三点一四", Decimal("3.14")),
        ("十二点五", Decimal("12.5")),
        ("一点零五", Decimal("1.05")),
        ("2.5", Decimal("2.5")),
        ("1点5", Decimal("1.5")),
    ],
)
def test_decimals_are_exact(text: str, value: Decimal) -> None:
    assert parse_chinese_number(text) == value


@pytest.mark.parametrize(("text", "value"), [("一点五万", 15_000), ("两点五亿", 250_000_000), ("三点零", 3)])
def test_integral_decimals_are_ints(text: str, value: int) -> None:
    parsed = parse_chinese_number(text)
    assert parsed == value
    assert isinstance(parsed, int)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "一一",  # digits in a row are read one by one (a code), not a quantity
        "三四",  # 三四个: "three or four", an estimate
        "一两",
        "五零",
        "百",  # 百 and 千 need a digit before them; only 十 stands alone
        "千万",  # "by all means", not ten million
        "万一",  # "in case"
        "万",
        "十十",
        "一十百",  # units must fall
        "一万两万",
        "一点",  # 快一点: "a little"
        "点五",
        "三点",
        "一下",
        "abc",
    ],
)
def test_not_one_number(text: str) -> None:
    assert parse_chinese_number(text) is None


@pytest.mark.parametrize(
    ("text", "digits"),
    [("二〇二六", "2026"), ("二零二六", "2026"), ("一三八", "138"), ("1三8", "138"), ("", None), ("二十", None)],
)
def test_digits_read_one_by_one(text: str, digits: str | None) -> None:
    assert parse_chinese_digits(text) == digits


def test_a_pasted_wall_of_numerals_is_rejected_quickly() -> None:
    assert parse_chinese_number("一万" * 2000) is None
