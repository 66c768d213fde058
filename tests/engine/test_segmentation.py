"""engine/segmentation.py: what rows store for Chinese full-text search, and how queries are rewritten."""

from __future__ import annotations

from engine.segmentation import index_tokens, query_text, query_words


def test_index_tokens_segment_chinese_and_keep_the_other_words() -> None:
    assert index_tokens("我的订单在哪里") == "我 的 订单 在 哪里"
    assert index_tokens("我的Order在哪，A-123") == "我 的 order 在 哪 a 123"
    assert index_tokens("退货政策", "未穿过的衣服") == "退货 政策 未 穿过 的 衣服"
    # Search mode: a long word also yields the words inside it.
    assert set(index_tokens("中华人民共和国").split()) >= {"中华", "人民", "共和国", "中华人民共和国"}


def test_text_without_chinese_stores_nothing_and_queries_pass_through() -> None:
    assert index_tokens("Where is my order?") == ""
    assert index_tokens("こんにちは") == ""  # kana: not Han, PostgreSQL's own parsing as before
    assert query_text('order -refund "gift card" or A-123') == 'order -refund "gift card" or A-123'


def test_query_text_keeps_websearch_syntax() -> None:
    assert query_text("我的订单？") == "我 的 订单"
    assert query_text("x订单y") == "x 订单 y"
    assert query_text('"我的订单" or 退货') == '"我 的 订单" or 退货'
    assert query_text("-退货政策") == '-"退货 政策"'
    assert query_text("-订单") == "-订单"


def test_query_words_drop_chinese_function_words_unless_nothing_else_is_left() -> None:
    assert query_words("你们的退货政策是什么 Refund", limit=32) == ["退货", "政策", "refund"]
    assert query_words("我的", limit=32) == ["我", "的"]
    assert query_words("a b c", limit=2) == ["a", "b"]
