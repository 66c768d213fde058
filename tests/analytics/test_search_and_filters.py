from __future__ import annotations

import pytest

from analytics.selectors import conversation_page
from analytics.services import conversation_tag_add, message_tag_add
from bots.models import Message
from chatplatform.access.scoping import conversations_visible_to
from tests.analytics.conftest import api_client_for
from tests.analytics.factories import ConversationFactory, turn

pytestmark = pytest.mark.django_db


def _ids(client, **params) -> set[int]:
    response = client.get("/api/v1/conversations/", params)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_full_text_search_finds_a_word(analyst_a, conv_a, bot_a, client) -> None:
    other = ConversationFactory(bot=bot_a)
    turn(other, "I want a refund", "Sure.", intent="refund")
    api = api_client_for(analyst_a)
    assert _ids(api, q="frobnicator") == {conv_a.pk}
    assert _ids(api, q="REFUND") == {other.pk}
    assert _ids(api, q="order -refund") == {conv_a.pk}  # websearch syntax
    assert _ids(api, q="nonexistentword") == set()
    client.force_login(analyst_a)
    html = client.get("/analytics/conversations/", {"q": "frobnicator"}).content.decode()
    assert f"/analytics/conversations/{conv_a.pk}/" in html and f"/analytics/conversations/{other.pk}/" not in html
    assert "No conversations" in client.get("/analytics/conversations/", {"q": "zzzz"}).content.decode()


def test_filters(analyst_a, conv_a, bot_a) -> None:
    happy = ConversationFactory(bot=bot_a, csat=5)
    _, reply = turn(happy, "thanks", "You're welcome", intent="thanks")
    Message.objects.filter(pk=reply.pk).update(feedback="up")
    conversation_tag_add(conversation=happy, name="praise", user=analyst_a)
    message_tag_add(message=conv_a.messages.first(), name="pii", user=analyst_a)
    api = api_client_for(analyst_a)
    assert _ids(api, intent="order_status") == {conv_a.pk}
    assert _ids(api, outcome="fallback") == {conv_a.pk}
    assert _ids(api, outcome="contained") == {happy.pk}
    assert _ids(api, feedback="up") == {happy.pk}
    assert _ids(api, feedback="none") == {conv_a.pk}
    assert _ids(api, csat="5") == {happy.pk}
    assert _ids(api, csat="none") == set()
    assert _ids(api, tag="praise") == {happy.pk}
    assert _ids(api, tag="pii") == {conv_a.pk}  # a tag on one message counts for its conversation
    assert _ids(api, bot="bot-a") == {conv_a.pk, happy.pk}
    assert _ids(api, date_from="2000-01-01", date_to="2000-12-31") == set()
    assert api.get("/api/v1/conversations/", {"csat": "9"}).status_code == 400


def test_keyset_pagination_walks_every_row_once(analyst_a, bot_a) -> None:
    convs = [ConversationFactory(bot=bot_a) for _ in range(7)]
    seen: list[int] = []
    after = None
    while True:
        page = conversation_page(qs=conversations_visible_to(analyst_a), sort="newest", after=after, per_page=3)
        seen += [c.pk for c in page.items]
        if not page.next_cursor:
            break
        after = page.next_cursor
    assert sorted(seen) == sorted(c.pk for c in convs) and len(seen) == 7
    api_pages = api_client_for(analyst_a).get("/api/v1/conversations/", {"page_size": 3}).json()
    assert len(api_pages["results"]) == 3 and api_pages["next"]


def test_list_and_detail_query_counts_do_not_grow_with_rows(
    analyst_a, bot_a, client, django_assert_max_num_queries
) -> None:
    for i in range(30):
        conv = ConversationFactory(bot=bot_a)
        turn(conv, f"question {i}", "answer", intent="faq")
        conversation_tag_add(conversation=conv, name="t", user=analyst_a)
    client.force_login(analyst_a)
    with django_assert_max_num_queries(20):
        assert client.get("/analytics/conversations/").status_code == 200
    with django_assert_max_num_queries(20):
        assert client.get(f"/analytics/conversations/{conv.pk}/").status_code == 200
