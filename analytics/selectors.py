"""Reads for the analyst workspace. Scoping, outcomes and "unrecognised" are defined HERE only.

Every page, API endpoint, export and metric starts from `conversations_visible_to(user)`, so who
sees which bot is decided in exactly one place. See docs/metrics.md for the definitions.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower, NullIf, Trim

from analytics.models import ConversationTag, IntentSuggestion, MessageTag, Note, Tag
from bots.models import MESSAGE_SEARCH_CONFIG, MESSAGE_SEARCH_FIELDS, Conversation, ConversationEvent, Intent, Message
from chatplatform.access.scoping import bots_visible_to, conversations_visible_to, sees_all_bots
from engine.segmentation import query_text
from inbox.models import AgentNote

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from analytics.forms import SuggestionForm
    from bots.models import Bot

    class _OutcomeAnnotation(TypedDict):
        outcome: str

    class ListedConversation(Conversation):
        """A row of the transcript list as `_decorate` and the list view leave it (typing only)."""

        message_count: int
        first_user_text: str
        outcome: str
        tag_names: list[str]
        preview: str

    class TranscriptMessage(Message):
        """A message of a transcript as `transcript_get` and the detail view leave it (typing only)."""

        reply_message: TranscriptMessage | None
        notes_here: list[Note]
        display_text: str
        display_entities: Any
        display_feedback_comment: str
        suggestion: IntentSuggestion | None
        suggestion_form: SuggestionForm
        turn_intent: str
        turn_confidence: float | None
        author_name: str

    class TranscriptEvent(ConversationEvent):
        """An event of a transcript as `transcript_get` leaves it (typing only)."""

        actor_name: str
        agent_name: str
        display_reason: str

    class TranscriptAgentNote(AgentNote):
        """An agent's private note as `transcript_get` and the detail view leave it (typing only)."""

        author_name: str
        display_text: str

# --- Scoping -----------------------------------------------------------------------------------

User = AbstractBaseUser | AnonymousUser


def conversation_get(*, user: Any, conversation_id: int) -> Conversation:
    """Raises Conversation.DoesNotExist for another bot's conversation too: no existence leak."""
    return conversations_visible_to(user).select_related("bot").get(pk=conversation_id)


def person_name(user: Any) -> str:
    """A staff member (agent, analyst) as analysts see them: the agent's display name, else their full
    name, else their login. Visitors see `conversations.selectors.agent_display` instead (never the login)."""
    if user is None:
        return ""
    profile = getattr(user, "agent_profile", None)  # a missing profile raises an AttributeError subclass
    return (profile.display_name if profile else "") or user.get_full_name() or user.get_username()


def message_get(*, user: Any, message_id: int, conversation_id: int | None = None) -> Message:
    qs = Message.objects.filter(conversation__in=conversations_visible_to(user).values("pk"))
    if conversation_id is not None:
        qs = qs.filter(conversation_id=conversation_id)
    return qs.select_related("conversation", "conversation__bot").get(pk=message_id)


# --- Outcome of a conversation -----------------------------------------------------------------


class Outcome:
    CONTAINED = "contained"
    FALLBACK = "fallback"
    HANDOFF = "handoff"
    EMPTY = "empty"  # no visitor message: not counted in any rate

    CHOICES = (
        (CONTAINED, "Contained"),
        (FALLBACK, "Fallback"),
        (HANDOFF, "Handoff offered"),
        (EMPTY, "No visitor message"),
    )
    ENGAGED = (CONTAINED, FALLBACK, HANDOFF)


def unrecognised_q(prefix: str = "") -> Q:
    """A visitor message the bot did not understand.

    It has a reply, and either the reply's action is `fallback`, or no intent was recognised for
    the turn (neither on the visitor message nor on the reply): out of scope, even when the bot
    answered it with a generated text.
    """
    p = prefix
    return Q(**{f"{p}role": Message.Role.USER, f"{p}reply__isnull": False}) & (
        Q(**{f"{p}reply__action": "fallback"}) | (Q(**{f"{p}intent": ""}) & Q(**{f"{p}reply__intent": ""}))
    )


def turn_intent_expression() -> Coalesce:
    """For a visitor message: its own intent, else the intent stored on its reply; NULL if none."""
    return Coalesce(NullIf(F("intent"), Value("")), NullIf(F("reply__intent"), Value("")), output_field=CharField())


def _conv_messages() -> QuerySet[Message]:
    return Message.objects.filter(conversation=OuterRef("pk"))


def _outcome_conditions() -> tuple[Exists, Q, Q]:
    """(engaged, handoff, fallback) as conditions on a conversation.

    Each EXISTS matches one partial index of bots/migrations/0002_analytics_indexes.py, so PostgreSQL
    probes a small index (or hashes it once) instead of joining every message with its reply. The
    fallback condition is "a fallback reply or `unrecognised_q()`" split into ORed EXISTS: same
    conversations, cheaper plans.
    """
    msgs = _conv_messages
    engaged = Exists(msgs().filter(role=Message.Role.USER))
    # Handed to people (issue #12: every request is an event), or at least offered a person.
    handoff = (
        Q(status__in=[Conversation.Status.QUEUED, Conversation.Status.ASSIGNED])
        | Q(handed_off_exists())
        | Q(Exists(msgs().filter(role=Message.Role.BOT, action="offer_handoff")))
    )
    # A reply lives in the conversation of the message it answers (the turn service writes both), so
    # "a visitor message whose reply is a fallback" is already "a bot message with action fallback".
    fallback = (
        Q(Exists(msgs().filter(role=Message.Role.BOT, action="fallback")))
        # the other branch of unrecognised_q(): no intent on the visitor message nor on its reply
        | Q(Exists(msgs().filter(role=Message.Role.USER, intent="", reply__isnull=False, reply__intent="")))
    )
    return engaged, handoff, fallback


def engaged_q() -> Q:
    """A conversation with at least one visitor message (the denominator of every rate)."""
    return Q(_outcome_conditions()[0])


def handed_off_exists() -> Exists:
    """A conversation that was queued for a person at least once (a `handoff_requested` event)."""
    return Exists(
        ConversationEvent.objects.filter(conversation=OuterRef("pk"), kind=ConversationEvent.Kind.HANDOFF_REQUESTED)
    )


def outcome_expression() -> Case:
    engaged, handoff, fallback = _outcome_conditions()
    return Case(
        When(~Q(engaged), then=Value(Outcome.EMPTY)),
        When(handoff, then=Value(Outcome.HANDOFF)),
        When(fallback, then=Value(Outcome.FALLBACK)),
        default=Value(Outcome.CONTAINED),
        output_field=CharField(),
    )


def outcome_q(outcome: str) -> Q:
    """The same decision as `outcome_expression`, as a WHERE condition (index-friendly)."""
    engaged, handoff, fallback = _outcome_conditions()
    if outcome == Outcome.EMPTY:
        return ~Q(engaged)
    if outcome == Outcome.HANDOFF:
        return Q(engaged) & handoff
    if outcome == Outcome.FALLBACK:
        return Q(engaged) & ~handoff & fallback
    if outcome == Outcome.CONTAINED:
        return Q(engaged) & ~handoff & ~fallback
    return Q(pk__in=[])


def with_outcome(qs: QuerySet[Conversation]) -> QuerySet[WithAnnotations[Conversation, _OutcomeAnnotation]]:
    return qs.annotate(outcome=outcome_expression())


def conversations_with_outcome(qs: QuerySet[Conversation], outcome: str) -> QuerySet[Conversation]:
    return qs.filter(outcome_q(outcome))


# --- Filters (used by the FilterSet in analytics/filters.py) -----------------------------------


def conversations_with_status(qs: QuerySet[Conversation], status: str) -> QuerySet[Conversation]:
    return qs.filter(status=status) if status in Conversation.Status.values else qs


def conversations_handed_off(qs: QuerySet[Conversation], answer: str) -> QuerySet[Conversation]:
    if answer == "yes":
        return qs.filter(handed_off_exists())
    if answer == "no":
        return qs.filter(~handed_off_exists())
    return qs


def conversations_with_intent(qs: QuerySet[Conversation], intent: str) -> QuerySet[Conversation]:
    return qs.filter(Exists(_conv_messages().filter(intent=intent)))


def conversations_with_feedback(qs: QuerySet[Conversation], feedback: str) -> QuerySet[Conversation]:
    rated = _conv_messages().exclude(feedback="")
    if feedback in (Message.Feedback.UP, Message.Feedback.DOWN):
        return qs.filter(Exists(rated.filter(feedback=feedback)))
    if feedback == "any":
        return qs.filter(Exists(rated))
    if feedback == "none":
        return qs.filter(~Exists(rated))
    return qs


def conversations_with_tag(qs: QuerySet[Conversation], tag: str) -> QuerySet[Conversation]:
    on_conv = ConversationTag.objects.filter(conversation=OuterRef("pk"), tag__name=tag)
    on_msg = MessageTag.objects.filter(message__conversation=OuterRef("pk"), tag__name=tag)
    return qs.filter(Exists(on_conv) | Exists(on_msg))


def conversations_matching(qs: QuerySet[Conversation], text: str) -> QuerySet[Conversation]:
    """Full-text search over message text (websearch syntax: every word, "a phrase", -word, or),
    using the GIN index on to_tsvector('simple', text || search_tokens). Chinese in the query is
    segmented as the stored messages were (engine/segmentation.py), so 订单 finds 我的订单在哪里."""
    text = query_text(text.strip())
    if not text:
        return qs
    hits = (
        Message.objects.annotate(search=SearchVector(*MESSAGE_SEARCH_FIELDS, config=MESSAGE_SEARCH_CONFIG))
        .filter(search=SearchQuery(text, config=MESSAGE_SEARCH_CONFIG, search_type="websearch"))
        .values("conversation_id")
    )
    return qs.filter(pk__in=hits)


# --- Keyset pagination for the transcript list -------------------------------------------------

SORTS: dict[str, tuple[str, str]] = {
    # key: (field, direction)
    "newest": ("started_at", "desc"),
    "oldest": ("started_at", "asc"),
    "active": ("last_activity_at", "desc"),
}
DEFAULT_SORT = "newest"


@dataclass
class Page:
    items: list[Conversation]
    next_cursor: str | None
    has_previous: bool
    count_capped: int  # matches found, counted up to `count_cap`
    count_cap: int

    @property
    def count_is_capped(self) -> bool:
        return self.count_capped > self.count_cap


def _encode_cursor(value: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{value.isoformat()}|{pk}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        value, pk = raw.rsplit("|", 1)
        return datetime.fromisoformat(value), int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def ordered(qs: QuerySet[Conversation], sort: str) -> QuerySet[Conversation]:
    fld, direction = SORTS.get(sort, SORTS[DEFAULT_SORT])
    return qs.order_by(f"-{fld}", "-pk") if direction == "desc" else qs.order_by(fld, "pk")


def conversation_page(
    *, qs: QuerySet[Conversation], sort: str, after: str | None, per_page: int = 50, count_cap: int = 1000
) -> Page:
    """One page after `after` (an opaque cursor). Counting is capped so 100k rows stay cheap."""
    fld, direction = SORTS.get(sort, SORTS[DEFAULT_SORT])
    count_capped = qs.order_by()[: count_cap + 1].count()
    page_qs = ordered(qs, sort)
    position = _decode_cursor(after) if after else None
    if position:
        value, pk = position
        if direction == "desc":
            page_qs = page_qs.filter(Q(**{f"{fld}__lt": value}) | Q(**{fld: value, "pk__lt": pk}))
        else:
            page_qs = page_qs.filter(Q(**{f"{fld}__gt": value}) | Q(**{fld: value, "pk__gt": pk}))
    rows = list(page_qs.select_related("bot")[: per_page + 1])
    has_more = len(rows) > per_page
    rows = rows[:per_page]
    next_cursor = _encode_cursor(getattr(rows[-1], fld), rows[-1].pk) if has_more and rows else None
    _decorate(rows)
    return Page(
        items=rows, next_cursor=next_cursor, has_previous=bool(position), count_capped=count_capped, count_cap=count_cap
    )


def _decorate(rows: Sequence[Conversation]) -> None:
    """Attach message counts, first visitor message, outcome and tags: four queries per page."""
    ids = [c.pk for c in rows]
    if not ids:
        return
    counts = dict(
        Message.objects.filter(conversation_id__in=ids)
        .order_by()
        .values_list("conversation_id")
        .annotate(n=Count("id"))
    )
    firsts = dict(
        Message.objects.filter(conversation_id__in=ids, role=Message.Role.USER)
        .order_by("conversation_id", "seq")
        .distinct("conversation_id")
        .values_list("conversation_id", "text")
    )
    outcomes = dict(with_outcome(Conversation.objects.filter(pk__in=ids)).values_list("pk", "outcome"))
    tags: dict[int, list[str]] = {}
    for conv_id, name in (
        ConversationTag.objects.filter(conversation_id__in=ids)
        .values_list("conversation_id", "tag__name")
        .order_by("tag__name")
    ):
        tags.setdefault(conv_id, []).append(name)
    for c in cast("Sequence[ListedConversation]", rows):
        c.message_count = counts.get(c.pk, 0)
        c.first_user_text = firsts.get(c.pk, "")
        c.outcome = outcomes.get(c.pk, Outcome.EMPTY)
        c.tag_names = tags.get(c.pk, [])


# --- One conversation --------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a transcript in time order: a message, a change of who handles it, or an agent's note."""

    kind: str  # "message" | "event" | "agent_note"
    at: datetime
    item: Any


@dataclass
class Transcript:
    conversation: Conversation
    outcome: str
    messages: list[Message]
    conversation_tags: list[ConversationTag]
    notes: list[Note]
    suggestions: dict[int, IntentSuggestion] = field(default_factory=dict)  # by message id
    events: list[ConversationEvent] = field(default_factory=list)
    agent_notes: list[AgentNote] = field(default_factory=list)

    @property
    def timeline(self) -> list[TimelineEntry]:
        """Messages (in seq order), events and agent notes merged by time: a merge of three sorted
        lists, so the messages keep their seq order even if two share a timestamp."""
        return list(
            heapq.merge(
                (TimelineEntry("message", m.created_at, m) for m in self.messages),
                (TimelineEntry("event", e.created_at, e) for e in self.events),
                (TimelineEntry("agent_note", n.created_at, n) for n in self.agent_notes),
                key=lambda entry: entry.at,
            )
        )


def transcript_get(*, user: Any, conversation_id: int) -> Transcript:
    conversation = conversation_get(user=user, conversation_id=conversation_id)
    messages = list(
        Message.objects.filter(conversation=conversation)
        .order_by("seq")
        .select_related("author__agent_profile")
        .prefetch_related("analytics_tags__tag")
    )
    decorated = cast("list[TranscriptMessage]", messages)
    by_id = {m.pk: m for m in decorated}
    for m in decorated:
        m.reply_message = None
        m.notes_here = []
        m.author_name = person_name(m.author)
    for m in decorated:
        if m.reply_to_id and m.reply_to_id in by_id:
            by_id[m.reply_to_id].reply_message = m
    notes = list(Note.objects.filter(conversation=conversation).select_related("author"))
    for n in notes:
        if n.message_id in by_id:
            by_id[n.message_id].notes_here.append(n)
    outcome = with_outcome(Conversation.objects.filter(pk=conversation.pk)).values_list("outcome", flat=True)[0]
    suggestions = {
        cast(int, s.message_id): s  # never None: filtered on the message's conversation
        for s in IntentSuggestion.objects.filter(message__conversation=conversation)
        .select_related("intent")
        .order_by("created_at")
    }
    events = list(
        ConversationEvent.objects.filter(conversation=conversation)
        .select_related("actor__agent_profile", "agent__agent_profile", "team")
        .order_by("created_at", "id")
    )
    for e in cast("list[TranscriptEvent]", events):
        e.actor_name = person_name(e.actor)
        e.agent_name = person_name(e.agent)
    agent_notes = list(
        AgentNote.objects.filter(conversation=conversation)
        .select_related("author__agent_profile")
        .order_by("created_at", "id")
    )
    for an in cast("list[TranscriptAgentNote]", agent_notes):
        an.author_name = person_name(an.author)
    return Transcript(
        conversation=conversation,
        outcome=outcome,
        messages=messages,
        conversation_tags=list(ConversationTag.objects.filter(conversation=conversation).select_related("tag")),
        notes=[n for n in notes if n.message_id is None],
        suggestions=suggestions,
        events=events,
        agent_notes=agent_notes,
    )


def intents_of_bot(*, bot_id: int) -> QuerySet:
    return Intent.objects.filter(bot_id=bot_id).order_by("name")


def intent_names_seen(*, conversations: QuerySet[Conversation], limit: int = 200) -> list[str]:
    """Intent names for the filter's dropdown: the configured intents of the visible bots."""
    return list(
        Intent.objects.filter(bot__in=conversations.values("bot_id"))
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()[:limit]
    )


# --- The unrecognised queue ----------------------------------------------------------------------

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def _regexp_replace(expr: Any, pattern: str, replacement: str) -> Func:
    return Func(
        expr, Value(pattern), Value(replacement), Value("g"), function="regexp_replace", output_field=CharField()
    )


def normalised_text_expression() -> Trim:
    """lower(text), runs of punctuation/whitespace -> one space, trimmed. Computed in SQL."""
    return Trim(_regexp_replace(Lower("text"), r"[[:punct:][:space:]]+", " "))


def unrecognised_messages(*, conversations: QuerySet[Conversation]) -> QuerySet[Message]:
    """`unrecognised_q()` written as two lookups of reply ids (partial indexes message_reply_fallback and
    message_reply_no_intent, both index-only).

    Same rows as `.filter(unrecognised_q())`, without joining every visitor message to its reply.
    """
    replies = Message.objects.filter(reply_to__isnull=False)
    return Message.objects.filter(
        conversation__in=conversations.order_by().values("pk"), role=Message.Role.USER
    ).filter(
        Q(pk__in=replies.filter(action="fallback").values("reply_to_id"))
        | Q(intent="", pk__in=replies.filter(intent="").values("reply_to_id"))
    )


def tokens(norm: str) -> frozenset[str]:
    """Words; CJK runs become character bigrams since they carry no spaces."""
    out: set[str] = set()
    for word in norm.split():
        if _CJK.search(word) and len(word) > 1:
            out.update(word[i : i + 2] for i in range(len(word) - 1))
        else:
            out.add(word)
    return frozenset(out)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass
class UnrecognisedCluster:
    bot_id: int
    count: int
    representative: str  # normalised text of the biggest group
    example_message_id: int
    variants: list[tuple[str, int]]
    last_seen: datetime
    example: Message | None = None
    if TYPE_CHECKING:  # set by the unrecognised queue view for its template
        display: str = field(init=False)
        bot: Bot | None = field(init=False)
        display_variants: list[tuple[str, int]] = field(init=False)
        intent_options: str = field(init=False)
        suggestion_form: SuggestionForm = field(init=False)

    @property
    def variant_count(self) -> int:
        return len(self.variants)


def unrecognised_clusters(
    *, conversations: QuerySet[Conversation], threshold: float = 0.5, max_groups: int = 2000, limit: int = 50
) -> list[UnrecognisedCluster]:
    """Unrecognised visitor messages, grouped so the biggest gaps come first.

    1. SQL groups identical normalised texts per bot (cheap over millions of rows);
    2. Python merges the `max_groups` largest groups greedily by token Jaccard similarity
       (>= `threshold`) into clusters. No model runs in the web request.
    """
    groups = list(
        unrecognised_messages(conversations=conversations)
        .annotate(norm=normalised_text_expression())
        .values("conversation__bot_id", "norm")
        .annotate(n=Count("id"), example_id=Max("id"), last_seen=Max("created_at"))
        .order_by("-n", "-example_id")[:max_groups]
    )
    clusters: list[tuple[frozenset[str], UnrecognisedCluster]] = []
    # Inverted index (bot, token) -> cluster positions: a cluster can only reach Jaccard >= threshold > 0
    # if it shares a token, so only those are compared. The first match in creation order wins, exactly
    # as a scan over every cluster would decide.
    by_token: dict[tuple[int, str], list[int]] = {}
    empty_rep: dict[int, list[int]] = {}  # clusters whose representative has no token (Jaccard(∅, ∅) = 1)
    for g in groups:
        toks = tokens(g["norm"] or "")
        bot_id = g["conversation__bot_id"]
        target = None
        if threshold <= 0:
            candidates: Iterable[int] = (i for i, (_t, c) in enumerate(clusters) if c.bot_id == bot_id)
        elif toks:
            candidates = sorted({i for t in toks for i in by_token.get((bot_id, t), ())})
        else:
            candidates = empty_rep.get(bot_id, [])
        for i in candidates:
            if jaccard(toks, clusters[i][0]) >= threshold:
                target = clusters[i][1]
                break
        if target is None:
            position = len(clusters)
            clusters.append(
                (
                    toks,
                    UnrecognisedCluster(
                        bot_id=bot_id,
                        count=g["n"],
                        representative=g["norm"] or "",
                        example_message_id=g["example_id"],
                        variants=[(g["norm"], g["n"])],
                        last_seen=g["last_seen"],
                    ),
                )
            )
            for t in toks:
                by_token.setdefault((bot_id, t), []).append(position)
            if not toks:
                empty_rep.setdefault(bot_id, []).append(position)
        else:
            target.count += g["n"]
            target.variants.append((g["norm"], g["n"]))
            target.last_seen = max(target.last_seen, g["last_seen"])
    result = sorted((c for _, c in clusters), key=lambda c: (-c.count, -c.example_message_id))[:limit]
    examples = Message.objects.in_bulk([c.example_message_id for c in result])
    for c in result:
        c.example = examples.get(c.example_message_id)
    return result


# --- Suggestions -------------------------------------------------------------------------------


def suggestions_visible_to(
    user: Any, *, status: str | None = IntentSuggestion.Status.PENDING
) -> QuerySet[IntentSuggestion]:
    qs = IntentSuggestion.objects.filter(bot__in=bots_visible_to(user).values("pk"))
    if status:
        qs = qs.filter(status=status)
    return qs.select_related("bot", "intent", "message", "created_by", "reviewed_by")


# --- Tags --------------------------------------------------------------------------------------


def tags_visible_to(user: Any) -> QuerySet[Tag]:
    """The tag vocabulary `user` may see: tags on a conversation or message of a visible bot.

    `Tag` rows are shared by every bot (one row per name), so the table itself is the union of all
    bots' vocabularies: listing it unscoped told analysts of bot B what bot A's analysts tag with.
    Only a user who sees every bot also gets the tags in use nowhere (created through the API, or
    left behind when their last use was removed): such a name may still come from any bot.
    """
    if sees_all_bots(user):
        return Tag.objects.all()
    bots = bots_visible_to(user).values("pk")
    on_conv = ConversationTag.objects.filter(tag=OuterRef("pk"), conversation__bot__in=bots)
    on_msg = MessageTag.objects.filter(tag=OuterRef("pk"), message__conversation__bot__in=bots)
    return Tag.objects.filter(Exists(on_conv) | Exists(on_msg))


def tag_names(*, user: Any, prefix: str = "", limit: int = 200) -> list[str]:
    """Names for the tag filter's autocomplete, scoped like everything else (no default user: an
    unscoped call must not be possible)."""
    return list(
        tags_visible_to(user).filter(name__istartswith=prefix).order_by("name").values_list("name", flat=True)[:limit]
    )


def ids(items: Iterable[Any]) -> list[int]:
    return [i.pk for i in items]
