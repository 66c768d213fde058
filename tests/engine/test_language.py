"""Language detection on visitor messages (engine/language.py): sure on sentences, silent on scraps."""

from __future__ import annotations

import pytest

from engine.language import language_codes_check, language_detect, language_name
from engine.nlg import turn_context
from engine.types import Tracker

CODES = language_codes_check(["en", "zh", "es", "fr", "de", "pt", "it", "ja", "ko", "ru", "ar"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的订单在哪里", "zh"),
        ("我想退货", "zh"),
        ("好的", "zh"),  # two Han characters settle it: the script alone is Chinese here
        ("我的order在哪", "zh"),
        ("订单号12345", "zh"),
        ("where is my order", "en"),
        ("can you help me with my account", "en"),
        ("Où est ma commande ?", "fr"),
        ("¿Dónde está mi pedido?", "es"),
        ("Wo ist meine Bestellung?", "de"),
        ("注文はどこですか", "ja"),
        ("내 주문은 어디에 있나요", "ko"),
        ("Где мой заказ?", "ru"),
    ],
)
def test_a_sentence_is_detected(text: str, expected: str) -> None:
    assert language_detect(text, codes=CODES) == expected


@pytest.mark.parametrize("text", ["ok", "hi", "no", "12345", ":)", "", "order status AC-12345", "hallo"])
def test_a_scrap_is_undecided(text: str) -> None:
    # Too short, or two languages about as likely: the caller keeps what it knew before.
    assert language_detect(text, codes=CODES) == ""


def test_only_the_listed_languages_are_candidates() -> None:
    assert language_detect("Où est ma commande ?", codes=("en", "zh")) in ("en", "")
    assert language_detect("我的订单在哪里", codes=("en", "zh")) == "zh"


def test_the_setting_is_checked() -> None:
    assert language_codes_check([" EN", "zh", "en", ""]) == ("en", "zh")
    with pytest.raises(ValueError, match="xx"):
        language_codes_check(["en", "xx"])
    with pytest.raises(ValueError, match="two languages"):
        language_codes_check(["en"])


def test_names_for_the_prompt() -> None:
    assert language_name("zh") == "Chinese"
    assert language_name("fr") == "French"


def test_the_reply_language_goes_in_the_context_block_not_the_system_message() -> None:
    context = turn_context(parse=None, tracker=Tracker(), knowledge=[], reply_language="Chinese")
    assert context == "Reply in Chinese, the language of the visitor's message."
    assert turn_context(parse=None, tracker=Tracker(), knowledge=[]) == ""
