"""Serializers for the bot-configuration API (admin role)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from django.db import transaction
from rest_framework import serializers

from bots.models import Bot, EntityType, EntityValue, Intent, TrainingPhrase

if TYPE_CHECKING:
    from django.db.models import QuerySet

    class _QuerySetField(Protocol):
        # RelatedField.queryset as assigned here (the stubs' union with Manager trips mypy's descriptor check)
        queryset: QuerySet[Intent]


class BotSerializer(serializers.ModelSerializer):
    class Meta:
        model = Bot
        fields = [
            "id",
            "slug",
            "name",
            "public_key",
            "persona",
            "greeting",
            "fallback_text",
            "handoff_text",
            "nlu_threshold",
            "fallbacks_before_handoff",
            "generate_when_out_of_scope",
            "llm_model",
            "llm_temperature",
            "llm_max_tokens",
            "allowed_origins",
            "require_identity_verification",
            "language",
            "widget_title",
            "widget_color",
            "widget_position",
            "avatar_url",
            "nlu_data_version",
            "is_active",
            "created_at",
            "updated_at",
        ]
        # `secret` is never exposed here: it signs identity hashes.
        read_only_fields = ["id", "public_key", "nlu_data_version", "created_at", "updated_at"]


class IntentSerializer(serializers.ModelSerializer):
    training_phrase_count = serializers.SerializerMethodField()

    class Meta:
        model = Intent
        fields = ["id", "name", "description", "response_mode", "training_phrase_count", "created_at"]
        read_only_fields = ["id", "created_at", "training_phrase_count"]

    def get_training_phrase_count(self, obj: Intent) -> int:
        annotated = getattr(obj, "training_phrase_count", None)
        return annotated if annotated is not None else obj.training_phrases.count()

    def validate_name(self, value: str) -> str:
        bot = self.context["bot"]
        clash = Intent.objects.filter(bot=bot, name=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("This bot already has an intent with this name.")
        return value


class TrainingPhraseSerializer(serializers.ModelSerializer):
    intent = serializers.SlugRelatedField(
        slug_field="name", queryset=Intent.objects.none(), help_text="Intent name (of this bot)."
    )

    class Meta:
        model = TrainingPhrase
        fields = ["id", "intent", "text"]
        read_only_fields = ["id"]
        validators: list[Any] = []  # uniqueness checked below with a readable message

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bot = self.context.get("bot")
        if bot is not None:
            cast("_QuerySetField", self.fields["intent"]).queryset = Intent.objects.filter(bot=bot)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        intent = attrs.get("intent", getattr(self.instance, "intent", None))
        text = attrs.get("text", getattr(self.instance, "text", None))
        clash = TrainingPhrase.objects.filter(intent=intent, text=text)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError({"text": "This intent already has this phrase."})
        return attrs


class EntityValueSerializer(serializers.ModelSerializer):
    class Meta:
        model = EntityValue
        fields = ["value", "synonyms"]


class EntityTypeSerializer(serializers.ModelSerializer):
    values = EntityValueSerializer(many=True, required=False)

    class Meta:
        model = EntityType
        fields = ["id", "name", "kind", "pattern", "values"]
        read_only_fields = ["id"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        pattern = attrs.get("pattern", getattr(self.instance, "pattern", ""))
        if kind == EntityType.Kind.REGEX:
            if not pattern:
                raise serializers.ValidationError({"pattern": "A regex entity needs a pattern."})
            import re

            try:
                re.compile(pattern)
            except re.error as exc:
                raise serializers.ValidationError({"pattern": f"Invalid regular expression: {exc}"}) from exc
        name = attrs.get("name")
        if name is not None:
            clash = EntityType.objects.filter(bot=self.context["bot"], name=name)
            if self.instance is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                raise serializers.ValidationError({"name": "This bot already has an entity with this name."})
        values = attrs.get("values") or []
        if len({v["value"] for v in values}) != len(values):
            raise serializers.ValidationError({"values": "Values must be unique."})
        return attrs

    @transaction.atomic
    def create(self, validated_data: dict[str, Any]) -> EntityType:
        values = validated_data.pop("values", [])
        entity = EntityType.objects.create(**validated_data)
        EntityValue.objects.bulk_create(EntityValue(entity_type=entity, **v) for v in values)
        return entity

    @transaction.atomic
    def update(self, instance: EntityType, validated_data: dict[str, Any]) -> EntityType:
        values = validated_data.pop("values", None)
        instance = super().update(instance, validated_data)
        if values is not None:  # the list replaces the old one
            instance.values.all().delete()
            EntityValue.objects.bulk_create(EntityValue(entity_type=instance, **v) for v in values)
        return instance
