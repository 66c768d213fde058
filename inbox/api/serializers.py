"""Request bodies of the inbox API, and the shapes of its answers (for the OpenAPI document: the
answers themselves are built by `inbox.selectors`, the same dicts the inbox socket sends)."""

from __future__ import annotations

from rest_framework import serializers

from bots.models import Conversation


class InboxRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class InboxLastMessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    text = serializers.CharField(help_text="At most 140 characters.")
    created_at = serializers.DateTimeField()


class InboxItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    bot = InboxRefSerializer()
    status = serializers.ChoiceField(choices=Conversation.Status.choices)
    priority = serializers.IntegerField()
    queued_at = serializers.DateTimeField(allow_null=True)
    waiting_s = serializers.IntegerField(allow_null=True, help_text="Seconds in the queue (queued only).")
    sla_seconds = serializers.IntegerField(help_text="The waiting time allowed: the team's SLA, or INBOX_SLA_SECONDS.")
    sla_breached = serializers.BooleanField(help_text="Queued for longer than sla_seconds.")
    assigned_agent = InboxRefSerializer(allow_null=True)
    last_message = InboxLastMessageSerializer(allow_null=True)
    unread = serializers.IntegerField(help_text="Visitor messages after your read mark.")


class InboxPageSerializer(serializers.Serializer):
    items = InboxItemSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the next page.")


class InboxVisitorSerializer(serializers.Serializer):
    id = serializers.CharField()
    user_id = serializers.CharField(help_text="The verified identity, or empty.")
    locale = serializers.CharField()


class InboxEventSerializer(serializers.Serializer):
    kind = serializers.CharField(
        help_text="handoff_requested, assigned, transferred, returned_to_bot, resolved, reopened or offline_ticket."
    )
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    actor = serializers.CharField(allow_null=True)
    agent = serializers.CharField(allow_null=True)
    team = serializers.CharField(allow_null=True)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class InboxNoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    author = serializers.CharField(allow_null=True)
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class InboxConversationSerializer(InboxItemSerializer):
    visitor = InboxVisitorSerializer()
    slots = serializers.DictField()
    messages = serializers.ListField(
        child=serializers.DictField(), help_text="The widget's message frames; visitor ones with the NLU's reading."
    )
    events = InboxEventSerializer(many=True)
    notes = InboxNoteSerializer(many=True)
    brief = serializers.DictField(allow_null=True)
    suggestion = serializers.DictField(allow_null=True)
    last_seq = serializers.IntegerField()


class InboxTransferSerializer(serializers.Serializer):
    to_agent_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    to_team_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)

    def validate(self, attrs: dict[str, int]) -> dict[str, int]:
        if ("to_agent_id" in attrs) == ("to_team_id" in attrs):
            raise serializers.ValidationError("Give to_agent_id or to_team_id, not both.")
        return attrs


class InboxReplySerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False, help_text='A canned reply\'s shortcut ("/refund") sends it.')
    client_id = serializers.CharField(required=False, max_length=64, help_text="A resend is stored once.")
    suggestion_id = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="The copilot suggestion the reply started from."
    )


class InboxNoteCreateSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False)


class HandoffRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    priority = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=-100,
        max_value=100,
        help_text="Higher is served first. Omitted: the team's default priority.",
    )


class HandoffStateSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[*Conversation.Status.values, "offline"])
    position = serializers.IntegerField(allow_null=True)
    expected_wait_s = serializers.IntegerField(allow_null=True)
    agent = serializers.DictField(allow_null=True)


class InboxRefusalSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
