"""mask_pii on Chinese and mixed text (issue #16 item 4); expected values checked by hand."""

from __future__ import annotations

import pytest

from analytics.pii import luhn_is_valid, mask_pii, resident_id_check_digit

VALID_ID_BODY = "11010519491231002"  # check digit X, computed below
ALL_DIGIT_ID_BODY = "44030419900307121"  # check digit 3


def test_check_digits_are_the_iso_7064_ones() -> None:
    assert resident_id_check_digit(VALID_ID_BODY) == "X"
    assert luhn_is_valid("4111111111111111") and not luhn_is_valid("4111111111111112")


def test_resident_ids() -> None:
    all_digit_id = ALL_DIGIT_ID_BODY + resident_id_check_digit(ALL_DIGIT_ID_BODY)
    assert all_digit_id[-1].isdigit()
    assert mask_pii(f"身份证{VALID_ID_BODY}X谢谢") == "身份证[id]谢谢"
    assert mask_pii(f"身份证号{all_digit_id}，请核对") == "身份证号[id]，请核对"
    wrong_check = ALL_DIGIT_ID_BODY + str((int(all_digit_id[-1]) + 1) % 10)
    # A failed checksum is still masked: by the card rule, over-eager.
    assert mask_pii(f"身份证{wrong_check}") == "身份证[card]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的电话13812345678", "我的电话[phone]"),
        ("电话138-1234-5678谢谢", "电话[phone]谢谢"),
        ("电话+86 138 1234 5678。", "电话[phone]。"),
        ("0086-13812345678", "[phone]"),
        ("电话010-12345678转123，或(0755)1234567", "电话[phone]，或[phone]"),
        ("我的邮箱是li@example.cn谢谢", "我的邮箱是[email]谢谢"),
        ("卡号4111 1111 1111 1111，谢谢", "卡号[card]，谢谢"),
        ("卡号4111111111111112谢谢", "卡号[card]谢谢"),  # Luhn fails, 16 digits: still masked
        ("订单号12345678901234", "订单号[phone]"),  # 14 digits failing Luhn: over-masked whole
        ("下单时间2024-03-05 10:30，共3件", "下单时间2024-03-05 10:30，共3件"),
        ("电话１３８１２３４５６７８", "电话[phone]"),
        ("tel13812345678", "tel13812345678"),  # glued ASCII letters: a code, as before
        (
            "我叫李雷，邮箱li.lei@example.com，电话13812345678，卡号4111-1111-1111-1111。",
            "我叫李雷，邮箱[email]，电话[phone]，卡号[card]。",
        ),
        ("555-123-4567 555-987-6543", "[phone] [phone]"),
        ("from 2024-03-05 2024-03-06", "from 2024-03-05 2024-03-06"),
    ],
)
def test_mask_pii_chinese(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_long_digit_runs_do_not_backtrack_forever() -> None:
    assert mask_pii(" " + "1" * 40 + "a") == " " + "1" * 40 + "a"
