"""Knowledge base: passages embedded in the worker, retrieved by pgvector, cited in generated replies."""

from __future__ import annotations

import pytest

from bots.models import KnowledgeChunk
from knowledge.selectors import knowledge_retrieve
from knowledge.services.embedding import knowledge_embed_pending
from tests.support import ws

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def returns_policy(llm_bot):
    KnowledgeChunk.objects.create(
        bot=llm_bot,
        title="Return policy",
        source_url="https://shop.example.com/returns",
        text="Unworn items can be returned within 45 days for a full refund.",
    )
    KnowledgeChunk.objects.create(
        bot=llm_bot,
        title="Shipping",
        source_url="https://shop.example.com/shipping",
        text="Parcels ship from Rotterdam and arrive in two to four business days.",
    )
    assert knowledge_embed_pending(bot_id=llm_bot.pk) == 2
    return llm_bot


def test_retrieval_ranks_the_relevant_passage_first(returns_policy) -> None:
    passages = knowledge_retrieve(bot=returns_policy, text="how long do I have to send back a jacket?")
    assert passages[0].title == "Return policy"
    assert knowledge_retrieve(bot=returns_policy, text="recommend a sci-fi novel about dragons") == []


async def test_generated_reply_uses_and_cites_the_passage(
    returns_policy, allowed_origin, stub_llm, celery_worker
) -> None:
    stub_llm.behaviour.reply = "You can return unworn items within 45 days [1]."
    communicator = await ws.connect(returns_policy.public_key, allowed_origin)
    await ws.hello(communicator)
    await communicator.send_json_to({"type": "message", "client_id": "k1", "text": "Can I return my jacket?"})
    _, final = await ws.collect_reply(communicator)
    await communicator.disconnect()
    prompt = str(stub_llm.behaviour.requests[-1]["messages"])
    assert "within 45 days" in prompt
    assert final["citations"][0] == {"title": "Return policy", "url": "https://shop.example.com/returns"}
