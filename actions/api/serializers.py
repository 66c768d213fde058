from __future__ import annotations

from typing import Any

from rest_framework import serializers

from actions.models import HttpAction
from actions.selectors import action_headers
from actions.validation import (
    body_template_check,
    headers_check,
    parameters_schema_check,
    response_mapping_check,
    step_up_sender_check,
    url_check,
)
from bots.models import Intent

FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "description",
    "method",
    "url",
    "headers",
    "header_names",
    "body_template",
    "parameters_schema",
    "required_identity",
    "timeout_seconds",
    "retries",
    "response_mapping",
    "reply_template",
    "not_found_text",
    "failure_text",
    "rate_limit_per_minute",
    "max_calls_per_conversation",
    "offered_to_llm",
    "sends_step_up_code",
    "is_active",
    "intents",
    "created_at",
    "updated_at",
)


_SENDER_FIELDS = ("sends_step_up_code", "body_template", "required_identity", "offered_to_llm")


def _checked(check: Any, value: Any) -> Any:
    try:
        return check(value)
    except ValueError as error:
        raise serializers.ValidationError(str(error)) from error


class HttpActionSerializer(serializers.ModelSerializer):
    headers = serializers.JSONField(
        write_only=True,
        required=False,
        help_text="Header names to values; stored encrypted, never returned. Omit to keep, {} to remove.",
    )
    header_names = serializers.SerializerMethodField(help_text="The names of the stored headers (values hidden).")
    intents: serializers.SlugRelatedField[Intent] = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name"
    )

    class Meta:
        model = HttpAction
        fields = FIELDS
        read_only_fields = ("created_at", "updated_at")

    def get_header_names(self, action: HttpAction) -> list[str]:
        return sorted(action_headers(action))

    def validate_headers(self, value: Any) -> dict[str, str]:
        return dict(_checked(headers_check, value))

    def validate_body_template(self, value: str) -> str:
        _checked(body_template_check, value)
        return value

    def validate_parameters_schema(self, value: Any) -> Any:
        _checked(parameters_schema_check, value)
        return value

    def validate_response_mapping(self, value: Any) -> dict[str, str]:
        return dict(_checked(response_mapping_check, value))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        bot = self.context["bot"]
        url = attrs.get("url", getattr(self.instance, "url", ""))
        try:
            url_check(url, allowed_hosts=bot.action_allowed_hosts)
        except ValueError as error:
            raise serializers.ValidationError({"url": str(error)}) from error
        current = {f: attrs.get(f, getattr(self.instance, f, None)) for f in _SENDER_FIELDS}
        try:
            step_up_sender_check(
                sends_step_up_code=bool(current["sends_step_up_code"]),
                url=url,
                body_template=str(current["body_template"] or ""),
                required_identity=str(current["required_identity"] or HttpAction.Identity.ANONYMOUS),
                offered_to_llm=bool(current["offered_to_llm"]),
            )
        except ValueError as error:
            raise serializers.ValidationError({"sends_step_up_code": str(error)}) from error
        if current["sends_step_up_code"]:
            others = HttpAction.objects.filter(bot=bot, sends_step_up_code=True)
            if self.instance is not None:
                others = others.exclude(pk=self.instance.pk)
            if others.exists():
                raise serializers.ValidationError({"sends_step_up_code": "Another action of this bot sends them."})
        return attrs


class HttpActionCreatedSerializer(HttpActionSerializer):
    signing_secret = serializers.CharField(
        read_only=True, help_text="whsec_...: give it to the receiving server now, it is never shown again."
    )

    class Meta:
        model = HttpAction
        fields = (*FIELDS, "signing_secret")
        read_only_fields = ("created_at", "updated_at")
