"""Transcript search over Chinese (issue #16): messages are segmented by jieba when stored, the
analyst's query the same way, so a word finds the sentence it is in. English is unchanged."""

from __future__ import annotations

import pytest

from analytics.selectors import conversations_matching
from bots.models import Conversation, Message
from conversations.services.messages import conversation_history_import, user_message_receive
from tests.analytics.conftest import api_client_for
from tests.analytics.factories import ConversationFactory, turn

pytestmark = pytest.mark.django_db


def _ids(client, **params) -> set[int]:
    response = client.get("/api/v1/conversations/", params)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def _matching(text: str) -> set[int]:
    return set(conversations_matching(Conversation.objects.all(), text).values_list("pk", flat=True))


@pytest.fixture
def chats(bot_a) -> dict[str, Conversation]:
    order = ConversationFactory(bot=bot_a)
    turn(order, "我的订单在哪里", "请稍等，我帮您查一下。")
    returns = ConversationFactory(bot=bot_a)  # through the visitor's write path
    user_message_receive(conversation=returns, client_id="zh-1", text="你们的退货政策是什么")
    imported = ConversationFactory(bot=bot_a)  # the API's history import: bulk_create, no save()
    conversation_history_import(
        conversation=imported, history=[("user", "发票怎么开？"), ("assistant", "请提供订单号。")]
    )
    english = ConversationFactory(bot=bot_a)
    turn(english, "Where is my parcel?", "Let me check the order.")
    mixed = ConversationFactory(bot=bot_a)
    turn(mixed, "我的order在哪", "OK")
    return {"order": order, "returns": returns, "imported": imported, "english": english, "mixed": mixed}


def test_a_chinese_word_finds_the_sentence_it_is_in(analyst_a, chats) -> None:
    api = api_client_for(analyst_a)
    assert _ids(api, q="订单") == {chats["order"].pk, chats["imported"].pk}
    assert _ids(api, q="退货") == {chats["returns"].pk}
    assert _ids(api, q="发票") == {chats["imported"].pk}
    # A longer query is segmented too: every word must be in the conversation's message.
    assert _ids(api, q="我的订单") == {chats["order"].pk}
    assert _ids(api, q="退货政策") == {chats["returns"].pk}
    assert _ids(api, q="我的订单在哪里？") == {chats["order"].pk}  # full-width punctuation is no word


def test_no_false_hits_across_word_boundaries(chats) -> None:
    assert _matching("单在") == set()  # characters of two words (订单|在) are no word of the message
    assert _matching("订货") == set()
    assert _matching("物流") == set()


def test_english_search_is_unchanged(analyst_a, chats) -> None:
    api = api_client_for(analyst_a)
    assert _ids(api, q="parcel") == {chats["english"].pk}
    assert _ids(api, q="ORDER") == {chats["english"].pk, chats["mixed"].pk}
    assert _ids(api, q="order -check") == {chats["mixed"].pk}
    assert Message.objects.get(conversation=chats["english"], seq=1).search_tokens == ""  # nothing extra stored


def test_mixed_text_is_found_by_either_language(chats) -> None:
    # PostgreSQL alone reads "我的order在哪" as ONE word: neither "order" nor "我的" would match it.
    assert _matching("order") == {chats["english"].pk, chats["mixed"].pk}
    assert _matching("我的") == {chats["order"].pk, chats["mixed"].pk}
    assert _matching("我的order") == {chats["mixed"].pk}


def test_websearch_syntax_still_works_with_chinese(bot_a, chats) -> None:
    how = ConversationFactory(bot=bot_a)
    turn(how, "怎么退货", "OK")
    assert _matching("订单 -哪里") == {chats["imported"].pk}  # per message, as in English
    # "-退货政策" excludes the phrase 退货 政策, not every message with 退货 in it.
    assert _matching("退货 -退货政策") == {how.pk}
    assert _matching('"我的订单"') == {chats["order"].pk}  # a phrase
    assert _matching("发票 or 退货") == {chats["imported"].pk, chats["returns"].pk, how.pk}


def test_an_edited_text_is_segmented_again(chats) -> None:
    message = Message.objects.get(conversation=chats["english"], seq=1)
    message.text = "我要退款"
    message.save(update_fields=["text"])
    assert _matching("退款") == {chats["english"].pk}
    message.feedback = Message.Feedback.UP
    message.save(update_fields=["feedback"])  # a save that leaves the text alone keeps the tokens
    message.refresh_from_db()
    assert message.search_tokens == "我要 退款"
