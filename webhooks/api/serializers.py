from __future__ import annotations

from rest_framework import serializers

from webhooks.models import EventType, WebhookDelivery, WebhookEndpoint
from webhooks.services.endpoints import endpoint_secret_masked

ENDPOINT_FIELDS: tuple[str, ...] = (
    "id",
    "url",
    "description",
    "event_types",
    "enabled",
    "secret_hint",
    "consecutive_failures",
    "disabled_at",
    "disabled_reason",
    "created_at",
)
ENDPOINT_READ_ONLY: tuple[str, ...] = (
    "enabled",
    "consecutive_failures",
    "disabled_at",
    "disabled_reason",
    "created_at",
)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices), required=False)
    secret_hint = serializers.SerializerMethodField(help_text="The secret, masked; it is shown in full only once.")

    class Meta:
        model = WebhookEndpoint
        fields = ENDPOINT_FIELDS
        read_only_fields = ENDPOINT_READ_ONLY

    def get_secret_hint(self, endpoint: WebhookEndpoint) -> str:
        return endpoint_secret_masked(endpoint)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="whsec_...: store it now, it is never shown again.")

    class Meta:
        model = WebhookEndpoint
        fields = (*ENDPOINT_FIELDS, "secret")
        read_only_fields = ENDPOINT_READ_ONLY


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event.id", read_only=True, help_text="The webhook-id header.")
    event_type = serializers.CharField(source="event.type", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = (
            "id",
            "endpoint",
            "event_id",
            "event_type",
            "conversation_id",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "last_response_excerpt",
            "delivered_at",
            "created_at",
        )
        read_only_fields = fields
