"""Bots, their NLU data and their conversations.

Invariants live in the database (unique and check constraints), not only in Python, so two
workers racing on the same conversation cannot break them. Writes go through `bots.services`;
models carry no side effects in `save()`: the one thing a `save()` does is derive the row's own
`search_tokens` from its text (a pure function of the row; nothing outside it changes).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from pgvector.django import HnswIndex, VectorField

from engine.segmentation import index_tokens
from engine.types import NO_KNOWLEDGE_TEXT

EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2


def new_public_key() -> str:
    return "pk_" + secrets.token_urlsafe(18)


def new_bot_secret() -> str:
    return secrets.token_urlsafe(32)


class Bot(models.Model):
    class Language(models.TextChoices):
        AUTO = "auto", _("Visitor's browser")
        ENGLISH = "en", "English"
        CHINESE = "zh-hans", "简体中文"

    class WidgetPosition(models.TextChoices):
        RIGHT = "right", _("Bottom right")
        LEFT = "left", _("Bottom left")

    slug = models.SlugField(
        max_length=64, unique=True, help_text=_("Also the `model` name in the OpenAI-compatible API.")
    )
    name = models.CharField(max_length=120)
    public_key = models.CharField(
        max_length=64,
        unique=True,
        default=new_public_key,
        editable=False,
        help_text=_("Goes in the widget's data-bot attribute; not a secret."),
    )
    secret = models.CharField(
        max_length=64,
        default=new_bot_secret,
        editable=False,
        help_text=_("Signs identity verification hashes (HMAC-SHA256 of user_id)."),
    )
    persona = models.TextField(
        blank=True,
        default="You are a friendly, concise customer-service assistant.",
        help_text=_("System prompt for generated replies."),
    )
    greeting = models.CharField(max_length=500, blank=True, default="Hi! How can I help you today?")
    fallback_text = models.CharField(max_length=500, default="Sorry, I didn't understand that. Could you rephrase?")
    handoff_text = models.CharField(max_length=500, default="Would you like me to connect you with a person?")
    nlu_threshold = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("Intent confidence below this is out of scope (fallback)."),
    )
    fallbacks_before_handoff = models.PositiveSmallIntegerField(default=2, validators=[MinValueValidator(1)])
    # Human handoff (issue #12). A bot only offers a person when one can come: it has an agent team
    # with members, and (if set) the business hours are open; otherwise the visitor gets the
    # offline form. Both triggers below are 0 = off.
    handoff_thumbs_down_streak = models.PositiveSmallIntegerField(
        default=2, db_default=2, help_text=_("Queue for a person after this many thumbs-down in a row (0: never).")
    )
    handoff_csat_at_most = models.PositiveSmallIntegerField(
        default=2,
        db_default=2,
        validators=[MaxValueValidator(5)],
        help_text=_("Queue for a person when the visitor rates the chat this low or lower (0: never)."),
    )
    business_hours = models.JSONField(
        default=dict,
        db_default={},
        blank=True,
        help_text=_(
            'Empty: always open. {"timezone": "Europe/Berlin", "hours": {"mon": [["09:00", "17:30"]], ...}} '
            "(days mon..sun; a day not listed is closed)."
        ),
    )
    generate_when_out_of_scope = models.BooleanField(
        default=True, help_text=_("Answer out-of-scope messages with the LLM instead of the fallback text.")
    )
    # Knowledge policy (issue #13). Defaults are rules, not fits: 0.35 is where all-MiniLM-L6-v2
    # cosine stops meaning "about the same thing", and equal weights are plain reciprocal-rank fusion.
    answer_without_knowledge = models.BooleanField(
        default=False,
        db_default=False,
        help_text=_(
            "With a knowledge base: let the LLM answer out-of-scope messages that no passage supports. "
            "Off, the bot says it has no information (and offers a person) instead of guessing."
        ),
    )
    no_answer_text = models.CharField(
        max_length=500,
        default=NO_KNOWLEDGE_TEXT,
        db_default=NO_KNOWLEDGE_TEXT,
        help_text=_("What the bot says when its knowledge base has nothing on the question."),
    )
    knowledge_top_k = models.PositiveSmallIntegerField(
        default=3,
        db_default=3,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text=_("Passages put in front of the model per turn."),
    )
    knowledge_min_similarity = models.FloatField(
        default=0.35,
        db_default=0.35,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("Cosine similarity below which a passage is not evidence for an answer."),
    )
    faq_min_similarity = models.FloatField(
        default=0.9,
        db_default=0.9,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text=_("An FAQ question at least this close is answered with its own answer, verbatim (no LLM)."),
    )
    knowledge_vector_weight = models.FloatField(
        default=1.0,
        db_default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(10.0)],
        help_text=_("Weight of meaning (vector) search in the fused ranking."),
    )
    knowledge_full_text_weight = models.FloatField(
        default=1.0,
        db_default=1.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(10.0)],
        help_text=_("Weight of word (full-text) search in the fused ranking."),
    )
    llm_model = models.CharField(max_length=200, blank=True, help_text=_("Empty: the server's default model."))
    llm_temperature = models.FloatField(default=0.3, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    llm_max_tokens = models.PositiveIntegerField(
        default=256, validators=[MinValueValidator(1), MaxValueValidator(4096)]
    )
    allowed_origins = ArrayField(
        models.CharField(max_length=255),
        default=list,
        blank=True,
        help_text=_("Exact origins allowed to embed the widget, e.g. https://shop.example.com"),
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "Delete a conversation (messages, feedback, tickets, webhook log) this many days after its last "
            "activity, by a daily job. Empty: keep them (docs/privacy.md)."
        ),
    )
    require_identity_verification = models.BooleanField(default=False)
    action_allowed_hosts = ArrayField(
        models.CharField(max_length=255),
        default=list,
        db_default=[],
        blank=True,
        help_text=_(
            "Hosts this bot's HTTP actions may call, e.g. api.shop.example or *.shop.example. "
            "An action whose URL is elsewhere is refused."
        ),
    )
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.AUTO)
    widget_title = models.CharField(max_length=80, blank=True)
    widget_color = models.CharField(
        max_length=7, default="#2563eb", validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Use a #rrggbb colour."))]
    )
    widget_position = models.CharField(max_length=5, choices=WidgetPosition.choices, default=WidgetPosition.RIGHT)
    avatar_url = models.URLField(blank=True)
    nlu_data_version = models.PositiveIntegerField(
        default=1, editable=False, help_text=_("Bumped whenever training data changes.")
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(nlu_threshold__gte=0) & Q(nlu_threshold__lte=1), name="bot_threshold_0_1"
            ),
            models.CheckConstraint(
                condition=Q(llm_temperature__gte=0) & Q(llm_temperature__lte=2), name="bot_temperature_0_2"
            ),
            models.CheckConstraint(
                condition=Q(llm_max_tokens__gte=1) & Q(llm_max_tokens__lte=4096), name="bot_max_tokens_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Intent(models.Model):
    class ResponseMode(models.TextChoices):
        TEMPLATE = "template", _("Template")
        GENERATE = "generate", _("Generate with the LLM")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="intents")
    name = models.CharField(
        max_length=120, validators=[RegexValidator(r"^[\w.\-:/]+$", _("Letters, digits, _ . - : / only."))]
    )
    description = models.CharField(max_length=500, blank=True)
    response_mode = models.CharField(max_length=10, choices=ResponseMode.choices, default=ResponseMode.TEMPLATE)
    hands_off = models.BooleanField(
        default=False, db_default=False, help_text=_("Recognising this intent queues the conversation for a person.")
    )
    action = models.ForeignKey(
        "actions.HttpAction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="intents",
        help_text=_("Called once the intent's form is complete (or at once, without a form); its answer is the reply."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bot", "name"]
        constraints = [models.UniqueConstraint(fields=["bot", "name"], name="intent_unique_name_per_bot")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.action_id is not None and self.action is not None and self.action.bot_id != self.bot_id:
            raise ValidationError({"action": _("Choose an action of this intent's bot.")})


class TrainingPhrase(models.Model):
    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="training_phrases")
    text = models.CharField(max_length=1000)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["intent", "text"], name="phrase_unique_per_intent")]

    def __str__(self) -> str:
        return self.text


class ResponseTemplate(models.Model):
    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField(help_text=_("Variations are picked at random. Slots: {slot_name}."))
    quick_replies = ArrayField(models.CharField(max_length=80), default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["intent", "position", "id"]

    def __str__(self) -> str:
        return self.text[:60]


class EntityType(models.Model):
    class Kind(models.TextChoices):
        REGEX = "regex", _("Regular expression")
        LOOKUP = "lookup", _("Lookup table with synonyms")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="entity_types")
    name = models.CharField(max_length=80, validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", _("lower_snake_case"))])
    kind = models.CharField(max_length=8, choices=Kind.choices)
    pattern = models.CharField(max_length=500, blank=True, help_text=_("For regex entities."))

    class Meta:
        ordering = ["bot", "name"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "name"], name="entity_unique_name_per_bot"),
            models.CheckConstraint(condition=~Q(kind="regex") | ~Q(pattern=""), name="entity_regex_has_pattern"),
        ]

    def __str__(self) -> str:
        return self.name


class EntityValue(models.Model):
    entity_type = models.ForeignKey(EntityType, on_delete=models.CASCADE, related_name="values")
    value = models.CharField(max_length=200, help_text=_("Canonical value"))
    synonyms = ArrayField(models.CharField(max_length=200), default=list, blank=True)

    class Meta:
        ordering = ["entity_type", "value"]
        constraints = [models.UniqueConstraint(fields=["entity_type", "value"], name="entity_value_unique")]

    def __str__(self) -> str:
        return self.value


class FormSlot(models.Model):
    """A slot an intent requires before it responds: the bot asks with `prompt` until filled."""

    intent = models.ForeignKey(Intent, on_delete=models.CASCADE, related_name="form_slots")
    name = models.CharField(max_length=80, validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", _("lower_snake_case"))])
    entity = models.CharField(
        max_length=80, help_text=_("Entity that fills it: a bot entity or email, phone, number, date, time, text.")
    )
    prompt = models.CharField(max_length=500)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["intent", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["intent", "name"], name="form_slot_unique_per_intent")]

    def __str__(self) -> str:
        return self.name


# The full-text side of knowledge search: English stemming and stop words. Chinese has no spaces
# between words, so the index also covers `search_tokens`, the text segmented by jieba
# (engine/segmentation.py); the query is segmented the same way (knowledge/selectors.py).
KNOWLEDGE_SEARCH_CONFIG = "english"
# Transcript search: no stemming (visitors misspell, and bots speak many languages), plus
# Message.search_tokens for Chinese. The GIN indexes' expressions; the selectors use the same.
MESSAGE_SEARCH_CONFIG = "simple"
KNOWLEDGE_SEARCH_FIELDS = ("title", "text", "search_tokens")
MESSAGE_SEARCH_FIELDS = ("text", "search_tokens")


def search_tokens_derive(instance: KnowledgeChunk | Message, fields: tuple[str, ...], kwargs: dict[str, Any]) -> None:
    """Derive `instance.search_tokens` from its `fields` before a save that writes any of them (a
    save with update_fields then writes the tokens too). bulk_create skips save(): its callers set
    search_tokens=index_tokens(...) themselves (knowledge/services/documents.py, conversations/services/messages.py)."""
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and not set(update_fields) & set(fields):
        return
    instance.search_tokens = index_tokens(*(getattr(instance, name) for name in fields))
    if update_fields is not None:
        kwargs["update_fields"] = {*update_fields, "search_tokens"}


class KnowledgeDocument(models.Model):
    """One of the customer's documents (a file, a JSONL line, a FAQ pair, a zip member), parsed
    and chunked in the worker (knowledge/services/documents.py). Its chunks are what retrieval finds."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        PARSING = "parsing", _("Parsing")
        EMBEDDING = "embedding", _("Embedding")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    class Kind(models.TextChoices):
        DOCUMENT = "document", _("Document")
        FAQ = "faq", _("FAQ pair")
        COLLECTION = "collection", _("Collection (a zip, JSONL or CSV file of documents)")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="knowledge_documents")
    collection = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="members", editable=False
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.DOCUMENT)
    filename = models.CharField(max_length=300, help_text=_("The uploaded file's name (its format)."))
    external_id = models.CharField(
        max_length=300, blank=True, help_text=_("The document's id in its source (a JSONL id, a zip path).")
    )
    title = models.CharField(max_length=300, blank=True)
    url = models.URLField(max_length=1000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.CharField(max_length=500, blank=True, help_text=_("Why the document failed."))
    # The upload until it is parsed (then emptied); the parsed plain text chunk offsets refer to.
    source = models.BinaryField(null=True, blank=True, editable=False)
    text = models.TextField(blank=True, editable=False)
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    chunk_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bot", "-created_at", "pk"]
        constraints = [
            # A re-import of the same source document updates it (re-sync) instead of duplicating it.
            models.UniqueConstraint(
                fields=["bot", "filename", "external_id"],
                condition=Q(collection__isnull=True),
                name="knowledge_document_unique_source",
            ),
            models.UniqueConstraint(
                fields=["collection", "external_id"],
                condition=Q(collection__isnull=False),
                name="knowledge_document_unique_member",
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.filename


class KnowledgeChunk(models.Model):
    """A passage of the bot's knowledge base: a chunk of a document (with its place in it), or a
    passage typed by hand in the admin (no document). Found by vector and full-text search."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="knowledge_chunks")
    document = models.ForeignKey(
        KnowledgeDocument, null=True, blank=True, on_delete=models.CASCADE, related_name="chunks", editable=False
    )
    title = models.CharField(max_length=300)
    source_url = models.URLField(max_length=1000, blank=True)
    text = models.TextField()
    heading_path = ArrayField(models.CharField(max_length=300), default=list, blank=True, editable=False)
    char_start = models.PositiveIntegerField(null=True, blank=True, editable=False)
    char_end = models.PositiveIntegerField(null=True, blank=True, editable=False)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True, editable=False)
    # The text's words for full-text search when it holds Chinese (jieba, engine/segmentation.py);
    # "" otherwise. Derived on save() and by the bulk_create callers; the GIN index covers it.
    search_tokens = models.TextField(default="", db_default="", blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bot", "title"]
        indexes = [
            # Approximate nearest neighbours over every bot's chunks (cosine, as the embedder's
            # vectors are normalised); the bot filter is applied to the candidates.
            HnswIndex(
                name="knowledge_chunk_embedding",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(
                SearchVector(*KNOWLEDGE_SEARCH_FIELDS, config=KNOWLEDGE_SEARCH_CONFIG), name="knowledge_chunk_search"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        search_tokens_derive(self, ("title", "text"), kwargs)
        super().save(*args, **kwargs)


class NluModel(models.Model):
    """A trained intent classifier for one version of a bot's training data.

    A version can have two: the `frozen` model (seconds to train, serves at once) and the
    `finetune` model (minutes; more accurate), which replaces it when stored.
    """

    class Strategy(models.TextChoices):
        FROZEN = "frozen", _("Frozen encoder")
        FINETUNE = "finetune", _("Fine-tuned encoder")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="nlu_models")
    data_version = models.PositiveIntegerField()
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.FROZEN)
    artifact = models.BinaryField()
    metrics = models.JSONField(default=dict, blank=True)
    trained_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bot", "-data_version"]
        get_latest_by = "data_version"
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "data_version", "strategy"], name="nlu_model_unique_version_strategy"
            )
        ]


class AgentTeam(models.Model):
    """The people who answer a bot's visitors when the bot hands over (the inbox routes among them)."""

    class Routing(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round robin")
        LEAST_BUSY = "least_busy", _("Least busy")

    name = models.CharField(max_length=120, unique=True)
    bots = models.ManyToManyField(Bot, blank=True, related_name="agent_teams")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="agent_teams")
    routing = models.CharField(max_length=12, choices=Routing.choices, default=Routing.LEAST_BUSY)
    capacity_per_agent = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text=_("Conversations one agent holds at once.")
    )
    sla_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(10)],
        help_text=_(
            "A conversation waiting longer than this for the team shows as late in the inbox. "
            "Empty: the platform default (INBOX_SLA_SECONDS)."
        ),
    )
    priority = models.SmallIntegerField(
        default=0,
        db_default=0,
        validators=[MinValueValidator(-100), MaxValueValidator(100)],
        help_text=_(
            "Conversations queued for this team start at this priority (higher is served first) "
            "unless the handoff names one."
        ),
    )

    class Meta:
        ordering = ["name"]

    def sla_seconds_effective(self) -> int:
        return self.sla_seconds or settings.INBOX_SLA_SECONDS

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    """An agent's name and face in the widget, presence and capacity in the inbox's routing."""

    class Presence(models.TextChoices):
        ONLINE = "online", _("Online")
        AWAY = "away", _("Away")
        OFFLINE = "offline", _("Offline")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile")
    display_name = models.CharField(max_length=80, blank=True, help_text=_("Shown to visitors; empty: first name."))
    avatar_url = models.URLField(blank=True)
    presence = models.CharField(max_length=7, choices=Presence.choices, default=Presence.OFFLINE)
    capacity = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Conversations held at once; empty: the team's default.")
    )
    # Refreshed by the open inbox page: "online" with no heartbeat for a while counts as offline,
    # so a closed laptop never keeps visitors waiting for nobody.
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.display_name or str(self.user)


class Conversation(models.Model):
    class Channel(models.TextChoices):
        WIDGET = "widget", _("Widget")
        API = "api", _("API")
        CONSOLE = "console", _("Admin test console")

    class Status(models.TextChoices):
        # bot -> queued -> assigned -> resolved, or back to bot (conversations/services/handoff.py).
        BOT = "bot", _("With the bot")
        QUEUED = "queued", _("Waiting for a person")
        ASSIGNED = "assigned", _("With an agent")
        RESOLVED = "resolved", _("Resolved")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="conversations")
    visitor_id = models.CharField(max_length=64, db_index=True)
    user_id = models.CharField(max_length=200, blank=True, help_text=_("Verified customer id, when identified."))
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.WIDGET)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.BOT)
    assigned_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
    )
    team = models.ForeignKey(AgentTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations")
    queued_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    # db_default on new NOT NULL columns: rows written without them (a bulk COPY, the previous
    # release during a rolling deploy) still insert.
    priority = models.SmallIntegerField(default=0, db_default=0, help_text=_("Higher is served first in the queue."))
    tracker = models.JSONField(default=dict, blank=True, help_text=_("Dialogue state: slots, form, fallbacks."))
    locale = models.CharField(max_length=16, blank=True)
    csat = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_activity_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The turn answering this conversation now (conversations/services/turns.py): a lease, not a held
    # lock, so no database connection waits on the LLM. Expires if its worker dies.
    turn_lease_owner = models.CharField(max_length=32, blank=True, default="", db_default="", editable=False)
    turn_lease_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["bot", "-started_at"], name="conv_bot_started"),
            models.Index(fields=["status", "bot", "-priority", "queued_at"], name="conv_queue"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="assigned") | Q(assigned_agent__isnull=False), name="conv_assigned_has_agent"
            ),
            models.CheckConstraint(
                condition=Q(csat__isnull=True) | (Q(csat__gte=1) & Q(csat__lte=5)), name="conv_csat_1_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bot} #{self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", _("Visitor")
        BOT = "bot", _("Bot")
        AGENT = "agent", _("Agent")

    class Feedback(models.TextChoices):
        UP = "up", "👍"
        DOWN = "down", "👎"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveIntegerField(help_text=_("1, 2, 3... within the conversation; clients use it to find gaps."))
    role = models.CharField(max_length=5, choices=Role.choices)
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The agent who wrote it (agent messages)."),
    )
    client_id = models.CharField(
        max_length=64, null=True, blank=True, help_text=_("Client-generated id: a retried send is stored once.")
    )
    reply_to = models.OneToOneField("self", null=True, blank=True, on_delete=models.CASCADE, related_name="reply")
    intent = models.CharField(max_length=120, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    entities = models.JSONField(default=list, blank=True)
    # The visitor message's language, ISO 639-1 ("zh"), detected by the turn (conversations/language.py);
    # "" when it could not be told or on bot messages.
    language = models.CharField(max_length=8, blank=True, default="", db_default="")
    action = models.CharField(max_length=40, blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    total_time_ms = models.PositiveIntegerField(null=True, blank=True)
    quick_replies = ArrayField(models.CharField(max_length=80), default=list, blank=True)
    citations = models.JSONField(default=list, blank=True)
    # The passages retrieval found for this reply, with scores and whether each was used (analysts).
    retrieval = models.JSONField(default=list, db_default=[], blank=True)
    # The HTTP actions this reply called: arguments, status, latency, a redacted response (analysts).
    action_calls = models.JSONField(default=list, db_default=[], blank=True)
    feedback = models.CharField(max_length=4, choices=Feedback.choices, blank=True)
    feedback_comment = models.CharField(max_length=1000, blank=True)
    # The text's words for full-text search when it holds Chinese (jieba, engine/segmentation.py);
    # "" otherwise. Derived on save() and by the bulk_create callers; the GIN index covers it.
    search_tokens = models.TextField(default="", db_default="", blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_unique_seq"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_unique_client_id",
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="message_seq_positive"),
            models.CheckConstraint(condition=Q(role__in=["user", "bot", "agent"]), name="message_role_valid"),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | (Q(confidence__gte=0) & Q(confidence__lte=1)),
                name="message_confidence_0_1",
            ),
            models.CheckConstraint(condition=Q(reply_to__isnull=True) | Q(role="bot"), name="message_only_bot_replies"),
        ]
        indexes = [
            GinIndex(SearchVector(*MESSAGE_SEARCH_FIELDS, config=MESSAGE_SEARCH_CONFIG), name="message_text_search"),
            models.Index(fields=["intent"], name="message_intent"),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.seq}: {self.text[:40]}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        search_tokens_derive(self, ("text",), kwargs)
        super().save(*args, **kwargs)


class ConversationEvent(models.Model):
    """One change of who handles a conversation (who, when, why): the transcript shows them in order."""

    class Kind(models.TextChoices):
        HANDOFF_REQUESTED = "handoff_requested", _("Handoff requested")
        ASSIGNED = "assigned", _("Assigned")
        TRANSFERRED = "transferred", _("Transferred")
        RETURNED_TO_BOT = "returned_to_bot", _("Returned to the bot")
        RESOLVED = "resolved", _("Resolved")
        REOPENED = "reopened", _("Reopened")
        OFFLINE_TICKET = "offline_ticket", _("Offline message left")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    from_status = models.CharField(max_length=8, choices=Conversation.Status.choices)
    to_status = models.CharField(max_length=8, choices=Conversation.Status.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Who did it; empty: the visitor, the bot or the router."),
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(AgentTeam, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["conversation", "created_at", "id"]
        indexes = [
            # "was this conversation ever handed to people" (analytics' outcome, per conversation row)
            models.Index(
                fields=["conversation"], condition=Q(kind="handoff_requested"), name="event_handoff_requested"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id}: {self.kind}"


class OfflineTicket(models.Model):
    """What a visitor left in the widget's offline form when nobody could come."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="offline_tickets")
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="offline_tickets"
    )
    visitor_id = models.CharField(max_length=64, blank=True)
    client_id = models.CharField(max_length=64)
    name = models.CharField(max_length=120, blank=True)
    email = models.EmailField()
    message = models.TextField()
    status = models.CharField(max_length=4, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "visitor_id", "client_id"], name="ticket_unique_client_id")
        ]

    def __str__(self) -> str:
        return f"{self.bot} ticket from {self.email}"


class ApiKey(models.Model):
    """A key for the OpenAI-compatible and parse APIs. Only a SHA-256 hash is stored; the key is shown once."""

    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    bots = models.ManyToManyField(
        Bot,
        blank=True,
        related_name="api_keys",
        help_text=_("The bots this key may use. Empty: none, unless 'all bots' is set."),
    )
    # Explicit, never inferred from an empty `bots`: an empty scope used to mean "every bot", so a
    # key whose only bot was deactivated or deleted silently became a key for every bot (issue #9).
    all_bots = models.BooleanField(default=False, help_text=_("Every active bot, present and future."))
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("API key")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
