"""Plain data passed between the pipeline stages (NLU -> dialogue -> NLG).

Nothing here imports Django: services adapt ORM rows into these, so the pipeline can be unit
tested and benchmarked without a database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# --- NLU ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntentScore:
    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class Entity:
    entity: str  # entity type name, e.g. "email", "city"
    value: Any  # canonical value (synonyms mapped), e.g. "New York"
    start: int
    end: int
    text: str  # the span as the visitor typed it
    extractor: str  # "regex", "lookup", "builtin"

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "extractor": self.extractor,
        }


@dataclass(frozen=True, slots=True)
class ParseResult:
    text: str
    intent: IntentScore | None  # None when below the bot's threshold (out of scope)
    ranking: list[IntentScore]
    entities: list[Entity]

    def as_rasa_dict(self) -> dict[str, Any]:
        """Rasa's /model/parse shape."""
        return {
            "text": self.text,
            "intent": {
                "name": self.intent.name if self.intent else None,
                "confidence": self.intent.confidence
                if self.intent
                else (self.ranking[0].confidence if self.ranking else 0.0),
            },
            "intent_ranking": [{"name": s.name, "confidence": s.confidence} for s in self.ranking],
            "entities": [e.as_dict() for e in self.entities],
        }


# --- Bot configuration as the pipeline sees it -------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseVariant:
    text: str
    quick_replies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SlotSpec:
    name: str
    entity: str  # bot entity name or a builtin: email, phone, number, date, time, text
    prompt: str


@dataclass(frozen=True, slots=True)
class IntentSpec:
    name: str
    response_mode: Literal["template", "generate"]
    responses: tuple[ResponseVariant, ...] = ()
    form_slots: tuple[SlotSpec, ...] = ()
    hands_off: bool = False  # recognising it queues the conversation for a person
    action: str | None = None  # HTTP action called when the form is complete; its answer is the reply


NO_KNOWLEDGE_TEXT = "Sorry, I don't have information about that."


@dataclass(frozen=True, slots=True)
class BotSpec:
    slug: str
    name: str
    persona: str
    greeting: str
    fallback_text: str
    handoff_text: str
    nlu_threshold: float
    fallbacks_before_handoff: int
    generate_when_out_of_scope: bool
    llm_temperature: float
    llm_max_tokens: int
    intents: dict[str, IntentSpec] = field(default_factory=dict)
    # Whether a person can come now (a team member on duty, inside business hours). The turn
    # service fills it per turn; without a person the bot never promises one (offline form instead).
    handoff_available: bool = False
    # Whether this channel can show the offline form (the widget can; the API and the test console
    # cannot, so there the bot only says it cannot connect a person here).
    offline_form: bool = False
    # Knowledge policy (used only when the bot has a knowledge base): passages below
    # `knowledge_min_similarity` are not evidence; with `answer_without_knowledge` off, an
    # out-of-scope message with no evidence is declined without calling the LLM; a curated FAQ whose
    # question is at least `faq_min_similarity` close is answered with its own text.
    knowledge_min_similarity: float = 0.35
    knowledge_top_k: int = 3
    answer_without_knowledge: bool = False
    no_answer_text: str = NO_KNOWLEDGE_TEXT
    faq_min_similarity: float = 0.9
    tools: tuple[ToolSpec, ...] = ()  # HTTP actions the LLM may call while it generates a reply
    # The visitor's language by name ("Chinese"), detected on their message (engine/language.py);
    # a generated reply is asked to use it. Empty: not known, the model follows the message.
    reply_language: str = ""


# --- Dialogue ----------------------------------------------------------------------------------


# "handoff": the visitor accepted the offer of a person, asked for one, or hit an intent that hands
# off; the turn service queues the conversation. "handoff_offline": the same when nobody can come
# now; the widget shows the offline form instead of a queue.
ActionName = Literal[
    "call_action",  # internal: the processor calls the intent's HTTP action, then answers with one below
    "action",
    "action_not_found",
    "action_failed",
    "action_identity_required",
    "action_limited",
    "action_code_sent",
    "action_code_wrong",
    "action_code_expired",
    "utter_template",
    "ask_slot",
    "generate",
    "fallback",
    "offer_handoff",
    "greet",
    "handoff",
    "handoff_offline",
    "faq",
    "no_knowledge",
]


@dataclass(slots=True)
class Tracker:
    """Per-conversation dialogue state, stored as JSON on the conversation."""

    slots: dict[str, Any] = field(default_factory=dict)
    active_form: str | None = None  # intent name whose slots are being collected
    requested_slot: str | None = None
    last_intent: str | None = None
    consecutive_fallbacks: int = 0
    handoff_offered: bool = False
    turn_count: int = 0
    # The step-up of identity (a one-time code): the action runner's own state, kept here so it
    # travels with the turn; the engine only reads which action waits for a code (engine/one_time_code.py).
    step_up: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "slots": self.slots,
            "active_form": self.active_form,
            "requested_slot": self.requested_slot,
            "last_intent": self.last_intent,
            "consecutive_fallbacks": self.consecutive_fallbacks,
            "handoff_offered": self.handoff_offered,
            "turn_count": self.turn_count,
            "step_up": self.step_up,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Tracker:
        data = data or {}
        return cls(
            slots=dict(data.get("slots") or {}),
            active_form=data.get("active_form"),
            requested_slot=data.get("requested_slot"),
            last_intent=data.get("last_intent"),
            consecutive_fallbacks=int(data.get("consecutive_fallbacks") or 0),
            handoff_offered=bool(data.get("handoff_offered")),
            turn_count=int(data.get("turn_count") or 0),
            step_up=dict(data.get("step_up") or {}),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What the dialogue manager decided to do with one visitor message."""

    action: ActionName
    intent: str | None = None
    slot: str | None = None  # for ask_slot
    template_text: str | None = None  # for template-like actions, before slot substitution
    quick_replies: tuple[str, ...] = ()
    handoff_reason: str = ""  # for handoff actions: why, in the transcript's words


# --- NLG / LLM ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant message that called tools
    tool_call_id: str = ""  # a tool message: the call it answers


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for (OpenAI tool calling); `arguments` is its JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call: an HTTP action offered as a tool."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class KnowledgePassage:
    """One retrieved knowledge-base passage (numbered [1], [2]... when offered to the LLM)."""

    title: str
    url: str
    text: str
    chunk_id: int | None = None
    document_id: int | None = None
    similarity: float = 1.0  # cosine similarity to the query: the evidence threshold applies to it
    score: float = 0.0  # the fused ranking score
    faq_answer: str = ""  # a curated FAQ's answer, verbatim (empty for document passages)

    def as_trace(self, *, used: bool) -> dict[str, Any]:
        """What the transcript keeps of a retrieved passage: analysts see why a turn answered."""
        return {
            "chunk_id": self.chunk_id,
            "document_id": self.document_id,
            "title": self.title,
            "similarity": round(self.similarity, 4),
            "score": round(self.score, 6),
            "used": used,
        }


@dataclass(frozen=True, slots=True)
class Citation:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    messages: list[ChatMessage]
    max_tokens: int
    temperature: float
    stop: tuple[str, ...] = ()
    model: str | None = None
    # Requests with one key go to one backend while it is healthy (its prefix cache stays warm):
    # the conversation id for a turn, "" for no preference.
    affinity_key: str = ""
    tools: tuple[ToolSpec, ...] = ()  # offered to the model; the stream's `tool_calls` has its calls
    tool_choice: str = "auto"  # "auto" (the model decides), "required", or one tool's name (forced)


@dataclass(frozen=True, slots=True)
class CompletionChunk:
    text: str


@dataclass(frozen=True, slots=True)
class CompletionUsage:
    prompt_tokens: int
    completion_tokens: int
    model: str


class CompletionStream(Protocol):
    """An iterator of text chunks whose `usage` is known once it is exhausted."""

    usage: CompletionUsage | None

    def __iter__(self) -> Iterator[CompletionChunk]: ...


class ContextOverflow(Exception):
    """The prompt does not fit the model's context window (the server refused it before answering).
    LLM clients raise a subclass, so the processor can trim the prompt and try once more."""


class LLM(Protocol):
    def stream(self, request: CompletionRequest) -> CompletionStream: ...


class IntentModel(Protocol):
    """A trained intent classifier: engine.nlu's frozen model or engine.nlu_finetune's tuned one.

    A model with an encoder of its own (the fine-tuned one) also has `encode(texts)`, which
    parsing then uses instead of the shared embedder.
    """

    metrics: dict[str, Any]

    def rank(self, embedding: Any, *, text: str | None = None, limit: int = ...) -> list[IntentScore]: ...

    def to_bytes(self) -> bytes: ...


class Embedder(Protocol):
    def encode(self, texts: list[str]) -> Any:  # numpy array (n, d), L2-normalised
        ...


@dataclass(frozen=True, slots=True)
class Reply:
    """The finished bot reply of one turn."""

    text: str
    action: str
    intent: str | None = None
    confidence: float | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    quick_replies: tuple[str, ...] = ()
    citations: tuple[Citation, ...] = ()
    # The passages retrieval found for this turn with their scores, and whether each was evidence.
    retrieval: tuple[dict[str, Any], ...] = ()
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    time_to_first_token_ms: int | None = None
    total_time_ms: int | None = None
    handoff_reason: str = ""
    # The HTTP actions this turn called (arguments, status, latency, redacted answer): analysts.
    action_calls: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    """What `TurnProcessor.run` returns: the reply to store, the tracker to save, the NLU parse."""

    reply: Reply
    tracker: Tracker
    parse: ParseResult


# --- Actions (calls to the business's own systems) ----------------------------------------------

# code_sent / code_wrong / code_expired: the step-up of an action that needs a one-time code.
ActionStatus = Literal[
    "ok", "not_found", "failed", "identity_required", "limited", "code_sent", "code_wrong", "code_expired"
]


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """What the dialogue asks of an action: its name and the conversation's slots so far; the
    tracker's step-up state, and `code`, a one-time code the visitor just typed ('' = none)."""

    name: str
    intent: str
    slots: dict[str, Any]
    step_up: Mapping[str, Any] = field(default_factory=dict)
    code: str = ""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What came back. `slots` are mapped from the answer; `template` is the admin's wording for this
    outcome (empty: the engine's honest default); `trace` is stored in the transcript."""

    status: ActionStatus
    slots: dict[str, Any] = field(default_factory=dict)
    template: str = ""
    trace: dict[str, Any] = field(default_factory=dict)
    step_up: dict[str, Any] | None = None  # the tracker's new step-up state; None = unchanged


ActionRunner = Callable[[ActionRequest], ActionResult]
