"""The inbox's lists (issue #12): order per view, keyset pages of 25 that neither skip nor repeat
while the queue moves, SLA marks, unread counts, scoping, canned replies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from bots.models import Conversation
from conversations.services import handoff
from conversations.services.sequencing import message_insert_next_seq
from inbox import selectors
from inbox.models import CannedReply
from inbox.pagination import CursorInvalid
from inbox.services import reads
from tests.factories import AgentTeamFactory, BotFactory
from tests.inbox.conftest import queued, role_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sent_tasks")]


def _pages(user, view: str, **kwargs) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        page = selectors.inbox_page(user=user, view=view, cursor=cursor, **kwargs)
        pages.append([i["id"] for i in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


def test_the_queue_pages_by_25_highest_priority_then_longest_waiting() -> None:
    bot = BotFactory()
    agent = role_user("agent", bot)
    start = timezone.now() - timedelta(hours=1)
    conversations = [queued(bot, priority=1 if i % 10 == 0 else 0) for i in range(60)]
    for i, conversation in enumerate(conversations):  # distinct, known waiting times; some tie on purpose
        Conversation.objects.filter(pk=conversation.pk).update(queued_at=start + timedelta(seconds=i // 2))
    expected = [c.pk for c in sorted(conversations, key=lambda c: (-c.priority, conversations.index(c) // 2, c.pk))]
    pages = _pages(agent, "unassigned")
    assert [len(p) for p in pages] == [25, 25, 10]
    assert [pk for page in pages for pk in page] == expected


def test_a_page_after_the_queue_moved_neither_skips_nor_repeats() -> None:
    bot = BotFactory()
    agent = role_user("agent", bot)
    conversations = [queued(bot) for _ in range(30)]
    first = selectors.inbox_page(user=agent, view="unassigned")
    # Meanwhile: one of the first page is claimed, a new visitor queues at the end.
    handoff.handoff_claim(conversation_id=conversations[0].pk, agent=agent)
    late = queued(bot)
    second = selectors.inbox_page(user=agent, view="unassigned", cursor=first["next_cursor"])
    assert [i["id"] for i in second["items"]] == [c.pk for c in conversations[25:]] + [late.pk]


def test_all_lists_the_queue_then_assigned_then_recently_resolved() -> None:
    bot = BotFactory()
    agent = role_user("agent", bot)
    old_resolved, new_resolved, assigned, waiting, urgent = (queued(bot) for _ in range(5))
    handoff.handoff_claim(conversation_id=assigned.pk, agent=agent)
    for c in (old_resolved, new_resolved):
        handoff.handoff_resolve(conversation_id=c.pk, actor=agent)
    Conversation.objects.filter(pk=old_resolved.pk).update(ended_at=timezone.now() - timedelta(hours=2))
    Conversation.objects.filter(pk=urgent.pk).update(priority=3)
    stale = queued(bot)
    handoff.handoff_resolve(conversation_id=stale.pk, actor=agent)
    Conversation.objects.filter(pk=stale.pk).update(ended_at=timezone.now() - timedelta(days=3))
    live = Conversation.objects.create(bot=bot, visitor_id="v-live")

    assert _pages(agent, "all") == [[urgent.pk, waiting.pk, assigned.pk, new_resolved.pk, old_resolved.pk]]
    assert _pages(agent, "mine") == [[assigned.pk]]
    assert _pages(agent, "unassigned") == [[urgent.pk, waiting.pk]]
    assert _pages(agent, "bot") == [[live.pk]]
    assert selectors.inbox_counts(user=agent) == {"mine": 1, "unassigned": 2, "all": 5}
    assert _pages(agent, "all", bot_id=BotFactory().pk) == [[]]


def test_items_carry_waiting_time_sla_and_unread_and_scoping_hides_other_bots(settings) -> None:
    settings.INBOX_SLA_SECONDS = 300
    bot, other = BotFactory(), BotFactory()
    agent = role_user("agent", bot)
    late, fresh = queued(bot), queued(bot)
    queued(other)
    Conversation.objects.filter(pk=late.pk).update(queued_at=timezone.now() - timedelta(seconds=301))
    for n in range(3):
        message_insert_next_seq(conversation_id=late.pk, role="user", text=f"hello {n} " + "x" * 200, client_id=f"c{n}")
    items = {i["id"]: i for i in selectors.inbox_page(user=agent, view="unassigned")["items"]}
    assert set(items) == {late.pk, fresh.pk}
    assert items[late.pk]["sla_breached"] is True and items[late.pk]["waiting_s"] >= 301
    assert items[fresh.pk]["sla_breached"] is False and items[fresh.pk]["last_message"] is None
    assert items[late.pk]["unread"] == 3 and len(items[late.pk]["last_message"]["text"]) == 140

    reads.read_mark(user=agent, conversation_id=late.pk, seq=2)
    reads.read_mark(user=agent, conversation_id=late.pk, seq=1)  # an older tab: the mark does not move back
    assert selectors.inbox_item(user=agent, conversation_id=late.pk)["unread"] == 1
    other_agent = role_user("agent", bot)
    assert selectors.inbox_item(user=other_agent, conversation_id=late.pk)["unread"] == 3  # marks are per agent
    assert selectors.inbox_conversation(user=role_user("agent", other), conversation_id=late.pk) is None


def test_a_teams_sla_replaces_the_platform_default(settings) -> None:
    settings.INBOX_SLA_SECONDS = 300
    bot = BotFactory()
    strict = AgentTeamFactory(name="Strict", sla_seconds=60)
    strict.bots.add(bot)
    agent = role_user("agent", bot)
    in_strict = queued(bot, team=strict)
    in_default = queued(bot)
    Conversation.objects.filter(pk=in_default.pk).update(team=None)
    Conversation.objects.filter(pk__in=[in_strict.pk, in_default.pk]).update(
        queued_at=timezone.now() - timedelta(seconds=90)
    )
    items = {i["id"]: i for i in selectors.inbox_page(user=agent, view="unassigned")["items"]}
    assert (items[in_strict.pk]["sla_seconds"], items[in_strict.pk]["sla_breached"]) == (60, True)
    assert (items[in_default.pk]["sla_seconds"], items[in_default.pk]["sla_breached"]) == (300, False)


@pytest.mark.parametrize("cursor", ["garbage", "W10", "WyJhbGwiLDFd", "x" * 600, "WyJ1bmFzc2lnbmVkIiwiMSIsIngiLDFd"])
def test_a_cursor_from_elsewhere_is_refused(cursor: str) -> None:
    agent = role_user("agent", BotFactory())
    with pytest.raises(CursorInvalid):
        selectors.inbox_page(user=agent, view="unassigned", cursor=cursor)


def test_canned_replies_follow_the_agents_bots_and_teams() -> None:
    bot, other = BotFactory(), BotFactory()
    team = AgentTeamFactory()
    team.bots.add(bot)
    agent = role_user("agent", team=team)
    foreign_team = AgentTeamFactory()
    foreign_team.bots.add(bot)
    CannedReply.objects.create(shortcut="/hi", text="Hello!")
    CannedReply.objects.create(team=team, shortcut="/hi", text="Hello from the team!")
    CannedReply.objects.create(team=foreign_team, shortcut="/secret", text="not ours")
    CannedReply.objects.create(bot=other, shortcut="/other", text="another bot's")
    CannedReply.objects.create(bot=bot, shortcut="/refund", text="Refunds take 3 days.")
    assert [(r["shortcut"], r["text"]) for r in selectors.canned_replies_for(user=agent)] == [
        ("/hi", "Hello from the team!"),
        ("/refund", "Refunds take 3 days."),
    ]
    assert selectors.canned_reply_expand(user=agent, bot_id=bot.pk, text="/REFUND") == "Refunds take 3 days."
    assert selectors.canned_reply_expand(user=agent, bot_id=bot.pk, text="/secret") == "/secret"
    assert selectors.canned_reply_expand(user=agent, bot_id=bot.pk, text="see /refund") == "see /refund"
