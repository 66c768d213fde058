from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.models import IntentSuggestion, Note, Tag
from analytics.pii import mask_pii, mask_value
from analytics.selectors import Outcome, person_name
from bots.models import AgentTeam, Conversation, ConversationEvent, Message
from inbox.models import AgentNote

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from bots.models import Bot


class MaskedCharField(serializers.CharField):
    """Read-only text that is PII-masked when the serializer context says `mask`."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        text = super().to_representation(value)
        return mask_pii(text) if self.context.get("mask", True) else text


@extend_schema_field({"type": "array", "items": {"type": "object", "additionalProperties": True}})
class MaskedJSONField(serializers.JSONField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        return mask_value(value) if self.context.get("mask", True) else value


class PersonSerializer(serializers.Serializer):
    """A staff member (an agent): their id and the name analysts see (display name, full name or login)."""

    id = serializers.IntegerField()
    name = serializers.CharField()


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def person_ref(user: Any) -> dict[str, Any] | None:
    return {"id": user.pk, "name": person_name(user)} if user is not None else None


def team_ref(team: AgentTeam | None) -> dict[str, Any] | None:
    return {"id": team.pk, "name": team.name} if team is not None else None


class MessageSerializer(serializers.ModelSerializer):
    text = MaskedCharField()
    entities = MaskedJSONField()
    feedback_comment = MaskedCharField()
    feedback = serializers.CharField(read_only=True, help_text="`up`, `down`, or empty when not rated.")
    role = serializers.CharField(
        read_only=True, help_text="`user` (visitor), `bot`, or `agent` (a person answering in the inbox)."
    )
    author = serializers.SerializerMethodField(help_text="The agent who wrote it (agent messages); else null.")
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "seq",
            "role",
            "text",
            "created_at",
            "reply_to",
            "intent",
            "confidence",
            "entities",
            "language",
            "action",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "time_to_first_token_ms",
            "total_time_ms",
            "feedback",
            "feedback_comment",
            "author",
            "tags",
        ]
        read_only_fields = fields

    @extend_schema_field(PersonSerializer(allow_null=True))
    def get_author(self, obj: Message) -> dict[str, Any] | None:
        return person_ref(obj.author)

    def get_tags(self, obj: Message) -> list[str]:
        return [t.tag.name for t in obj.analytics_tags.all()]


class EventSerializer(serializers.ModelSerializer):
    """A change of who handles the conversation: who did it (null: the visitor, the bot or the router),
    the agent it concerns, the team, why, when."""

    actor = serializers.SerializerMethodField()
    agent = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField()
    reason = MaskedCharField()

    class Meta:
        model = ConversationEvent
        fields = ["id", "kind", "from_status", "to_status", "actor", "agent", "team", "reason", "created_at"]
        read_only_fields = fields

    @extend_schema_field(PersonSerializer(allow_null=True))
    def get_actor(self, obj: ConversationEvent) -> dict[str, Any] | None:
        return person_ref(obj.actor)

    @extend_schema_field(PersonSerializer(allow_null=True))
    def get_agent(self, obj: ConversationEvent) -> dict[str, Any] | None:
        return person_ref(obj.agent)

    @extend_schema_field(TeamRefSerializer(allow_null=True))
    def get_team(self, obj: ConversationEvent) -> dict[str, Any] | None:
        return team_ref(obj.team)


class AgentNoteSerializer(serializers.ModelSerializer):
    """An agent's private note from the inbox (never shown to the visitor)."""

    author = serializers.SerializerMethodField()
    text = MaskedCharField()

    class Meta:
        model = AgentNote
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = fields

    @extend_schema_field(PersonSerializer(allow_null=True))
    def get_author(self, obj: AgentNote) -> dict[str, Any] | None:
        return person_ref(obj.author)


class ConversationSerializer(serializers.ModelSerializer):
    bot: serializers.SlugRelatedField[Bot] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    user_id = MaskedCharField()
    outcome = serializers.ChoiceField(choices=Outcome.CHOICES, read_only=True)
    assigned_agent = serializers.SerializerMethodField(help_text="The agent who has it (status assigned); else null.")
    team = serializers.SerializerMethodField(help_text="The agent team it was queued for; else null.")
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "bot",
            "channel",
            "status",
            "locale",
            "user_id",
            "csat",
            "outcome",
            "started_at",
            "last_activity_at",
            "ended_at",
            "assigned_agent",
            "team",
            "queued_at",
            "priority",
            "tags",
        ]
        read_only_fields = fields

    @extend_schema_field(PersonSerializer(allow_null=True))
    def get_assigned_agent(self, obj: Conversation) -> dict[str, Any] | None:
        return person_ref(obj.assigned_agent)

    @extend_schema_field(TeamRefSerializer(allow_null=True))
    def get_team(self, obj: Conversation) -> dict[str, Any] | None:
        return team_ref(obj.team)

    def get_tags(self, obj: Conversation) -> list[str]:
        return [t.tag.name for t in obj.analytics_tags.all()]


class NoteSerializer(serializers.ModelSerializer):
    author: serializers.SlugRelatedField[AbstractBaseUser] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    text = serializers.CharField(max_length=5000)
    message = serializers.IntegerField(source="message_id", required=False, allow_null=True)

    class Meta:
        model = Note
        fields = ["id", "conversation", "message", "author", "text", "created_at"]
        read_only_fields = ["id", "conversation", "author", "created_at"]

    def to_representation(self, instance: Note) -> dict[str, Any]:
        data = super().to_representation(instance)
        if self.context.get("mask", True):
            data["text"] = mask_pii(data["text"])
        return data


class ConversationDetailSerializer(ConversationSerializer):
    messages = MessageSerializer(many=True, read_only=True)
    notes = NoteSerializer(many=True, read_only=True, source="analytics_notes")
    events = EventSerializer(many=True, read_only=True)
    agent_notes = AgentNoteSerializer(many=True, read_only=True)

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages", "notes", "events", "agent_notes"]
        read_only_fields = fields


class TagSerializer(serializers.ModelSerializer):
    # No unique validator: creating an existing tag returns it (get-or-create).
    name = serializers.RegexField(r"^[\w .:/\-]+$", max_length=60)

    class Meta:
        model = Tag
        fields = ["id", "name", "created_at"]
        read_only_fields = ["id", "created_at"]


class TagNameSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[\w .:/\-]+$", max_length=60)


class SuggestionSerializer(serializers.ModelSerializer):
    bot: serializers.SlugRelatedField[Bot] = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    message = serializers.IntegerField(source="message_id", allow_null=True, read_only=True)
    intent_name = serializers.CharField(read_only=True)
    text = MaskedCharField()
    created_by: serializers.SlugRelatedField[AbstractBaseUser] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    reviewed_by: serializers.SlugRelatedField[AbstractBaseUser] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = IntentSuggestion
        fields = [
            "id",
            "bot",
            "message",
            "text",
            "intent",
            "new_intent_name",
            "intent_name",
            "status",
            "created_by",
            "created_at",
            "reviewed_by",
            "reviewed_at",
            "training_phrase",
        ]
        read_only_fields = fields


class SuggestionCreateSerializer(serializers.Serializer):
    message = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    intent = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Id of an existing intent of the message's bot.",
    )
    new_intent_name = serializers.RegexField(r"^[\w.\-:/]+$", max_length=120, required=False, allow_blank=True)
    text = serializers.CharField(
        max_length=1000, required=False, help_text="Training phrase; defaults to the message text."
    )


class MetricsDayMetricsSerializer(serializers.Serializer):
    day = serializers.DateField()
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()


class IntentCountSerializer(serializers.Serializer):
    intent = serializers.CharField()
    count = serializers.IntegerField()


class UnrecognisedSerializer(serializers.Serializer):
    text = serializers.CharField()
    count = serializers.IntegerField()
    bot_id = serializers.IntegerField()
    example_message_id = serializers.IntegerField()
    conversation_id = serializers.IntegerField(allow_null=True)


class CopilotMetricsSerializer(serializers.Serializer):
    """copilot.selectors.copilot_stats for the visible bots of the filtered conversations and the period."""

    suggestions = serializers.IntegerField()
    sent = serializers.IntegerField()
    edited = serializers.IntegerField()
    discarded = serializers.IntegerField()
    pending = serializers.IntegerField()
    acceptance_rate = serializers.FloatField(allow_null=True)
    edit_distance_p50 = serializers.FloatField(allow_null=True)
    edit_distance_mean = serializers.FloatField(allow_null=True)


class MetricsSerializer(serializers.Serializer):
    """Documentation of the metrics payload (values come from analytics.metrics.metrics_compute)."""

    conversations = serializers.IntegerField()
    engaged = serializers.IntegerField()
    outcomes = serializers.DictField(child=serializers.IntegerField())
    containment_rate = serializers.FloatField(allow_null=True)
    fallback_rate = serializers.FloatField(allow_null=True)
    handoff_rate = serializers.FloatField(allow_null=True)
    handed_off = serializers.IntegerField()
    handed_off_rate = serializers.FloatField(allow_null=True)
    handoff_requests = serializers.IntegerField()
    handoff_requests_answered = serializers.IntegerField()
    human_first_reply_p50_s = serializers.FloatField(allow_null=True)
    human_first_reply_p95_s = serializers.FloatField(allow_null=True)
    resolved = serializers.IntegerField()
    resolved_by_bot = serializers.IntegerField()
    resolved_by_human = serializers.IntegerField()
    resolved_by_human_share = serializers.FloatField(allow_null=True)
    reasked = serializers.IntegerField()
    reask_rate = serializers.FloatField(allow_null=True)
    copilot = CopilotMetricsSerializer()
    messages = serializers.IntegerField()
    per_day = MetricsDayMetricsSerializer(many=True)
    csat_average = serializers.FloatField(allow_null=True)
    csat_responses = serializers.IntegerField()
    csat_distribution = serializers.DictField(child=serializers.IntegerField())
    thumbs_up = serializers.IntegerField()
    thumbs_down = serializers.IntegerField()
    thumbs_up_share = serializers.FloatField(allow_null=True)
    ttft_p50_ms = serializers.FloatField(allow_null=True)
    ttft_p95_ms = serializers.FloatField(allow_null=True)
    total_time_p50_ms = serializers.FloatField(allow_null=True)
    total_time_p95_ms = serializers.FloatField(allow_null=True)
    top_intents = IntentCountSerializer(many=True)
    top_unrecognised = UnrecognisedSerializer(many=True)
    definitions = serializers.DictField(child=serializers.CharField())
