"""The transcript shows, per bot turn, what the knowledge base returned and what was used (issue #13)."""

from __future__ import annotations

import pytest

from tests.analytics.factories import ConversationFactory, turn

pytestmark = pytest.mark.django_db


def test_each_retrieved_passage_is_shown_with_its_similarity_and_use(client, admin_user) -> None:
    conv = ConversationFactory()
    retrieval = [
        {
            "chunk_id": 1,
            "document_id": 7,
            "title": "Shipping <b>rates</b>",
            "similarity": 0.7213,
            "score": 0.03,
            "used": True,
        },
        {"chunk_id": 2, "document_id": 8, "title": "Gift cards", "similarity": 0.1904, "score": 0.01, "used": False},
    ]
    turn(conv, "how much is shipping", "CA$9 [1].", action="generate", confidence=None, retrieval=retrieval)
    turn(conv, "thanks", "You're welcome!", intent="thanks")  # no retrieval: no knowledge row
    client.force_login(admin_user)
    html = client.get(f"/analytics/conversations/{conv.pk}/").content.decode()
    assert html.count('class="retrieval"') == 1
    assert "Shipping &lt;b&gt;rates&lt;/b&gt;" in html  # escaped, a title is document text
    assert "similarity 0.72" in html and "similarity 0.19" in html
    assert '<li class="used"><bdi>Shipping' in html and "· not used" in html
