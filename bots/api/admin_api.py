"""Bot configuration REST API (admin role): bots, intents, training phrases, entities.

Routes under /api/v1/bots/. `/api/v1/bots/<slug>/parse` belongs to the NLU endpoint, not here.
Every change to training data bumps `Bot.nlu_data_version` and asks for a retrain, through the
same service the analysts' correction loop uses.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.routers import SimpleRouter

from bots.api.serializers import BotSerializer, EntityTypeSerializer, IntentSerializer, TrainingPhraseSerializer
from bots.models import Bot, EntityType, Intent, TrainingPhrase
from chatplatform.access.permissions import BotConfigPermission
from chatplatform.access.scoping import bots_visible_to
from nlu.services.scheduling import nlu_training_data_changed

BOT_SLUG = OpenApiParameter(
    "bot_slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The bot's slug.", pattern=r"^[-a-zA-Z0-9_]+$"
)


@extend_schema_view(
    list=extend_schema(summary="List bots"),
    create=extend_schema(summary="Create a bot"),
    retrieve=extend_schema(summary="One bot"),
    update=extend_schema(summary="Replace a bot's settings"),
    partial_update=extend_schema(summary="Change some of a bot's settings"),
    destroy=extend_schema(summary="Delete a bot and all its data"),
)
class BotViewSet(viewsets.ModelViewSet):
    serializer_class = BotSerializer
    perm_model = Bot
    permission_classes = [BotConfigPermission]
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    filterset_fields = ["is_active", "language"]

    def get_queryset(self) -> QuerySet[Bot]:
        return bots_visible_to(self.request.user).order_by("name", "pk")


class _BotChildViewSet(viewsets.ModelViewSet):
    """Base for objects that belong to the bot named in the URL."""

    permission_classes = [BotConfigPermission]
    lookup_value_regex = r"\d+"

    def get_bot(self) -> Bot:
        if not hasattr(self, "_bot"):
            try:
                self._bot = bots_visible_to(self.request.user).get(slug=self.kwargs["bot_slug"])
            except Bot.DoesNotExist:
                raise Http404 from None
        return self._bot

    def get_serializer_context(self) -> dict[str, Any]:
        context = cast("dict[str, Any]", super().get_serializer_context())  # DRF builds a dict
        if "bot_slug" in self.kwargs:
            context["bot"] = self.get_bot()
        return context


_child_schema = {
    name: extend_schema(parameters=[BOT_SLUG])
    for name in ("list", "create", "retrieve", "update", "partial_update", "destroy")
}


@extend_schema_view(**_child_schema)
class IntentViewSet(_BotChildViewSet):
    serializer_class = IntentSerializer
    perm_model = Intent
    filterset_fields = ["response_mode"]

    def get_queryset(self) -> QuerySet[Intent]:
        if getattr(self, "swagger_fake_view", False):
            return Intent.objects.none()
        return (
            Intent.objects.filter(bot=self.get_bot())
            .annotate(training_phrase_count=Count("training_phrases"))
            .order_by("name")
        )

    def perform_create(self, serializer: Any) -> None:
        serializer.save(bot=self.get_bot())

    @transaction.atomic
    def perform_update(self, serializer: Any) -> None:
        renamed = "name" in serializer.validated_data and serializer.validated_data["name"] != serializer.instance.name
        serializer.save()
        if renamed:
            nlu_training_data_changed(bot_id=self.get_bot().pk)

    @transaction.atomic
    def perform_destroy(self, instance: Intent) -> None:
        instance.delete()
        nlu_training_data_changed(bot_id=self.get_bot().pk)


@extend_schema_view(
    **{
        **_child_schema,
        "list": extend_schema(
            parameters=[
                BOT_SLUG,
                OpenApiParameter("intent", OpenApiTypes.STR, description="Only this intent's phrases."),
            ]
        ),
    }
)
class TrainingPhraseViewSet(_BotChildViewSet):
    serializer_class = TrainingPhraseSerializer
    perm_model = TrainingPhrase

    def get_queryset(self) -> QuerySet[TrainingPhrase]:
        if getattr(self, "swagger_fake_view", False):
            return TrainingPhrase.objects.none()
        qs = TrainingPhrase.objects.filter(intent__bot=self.get_bot()).select_related("intent").order_by("pk")
        intent = self.request.query_params.get("intent")
        return qs.filter(intent__name=intent) if intent else qs

    @transaction.atomic
    def perform_create(self, serializer: Any) -> None:
        serializer.save()
        nlu_training_data_changed(bot_id=self.get_bot().pk)

    @transaction.atomic
    def perform_update(self, serializer: Any) -> None:
        serializer.save(embedding=None)  # stale: the retrain recomputes it
        nlu_training_data_changed(bot_id=self.get_bot().pk)

    @transaction.atomic
    def perform_destroy(self, instance: TrainingPhrase) -> None:
        instance.delete()
        nlu_training_data_changed(bot_id=self.get_bot().pk)


@extend_schema_view(**_child_schema)
class EntityTypeViewSet(_BotChildViewSet):
    serializer_class = EntityTypeSerializer
    perm_model = EntityType
    filterset_fields = ["kind"]

    def get_queryset(self) -> QuerySet[EntityType]:
        if getattr(self, "swagger_fake_view", False):
            return EntityType.objects.none()
        return EntityType.objects.filter(bot=self.get_bot()).prefetch_related("values").order_by("name")

    def perform_create(self, serializer: Any) -> None:
        serializer.save(bot=self.get_bot())


router = SimpleRouter()
router.register("bots", BotViewSet, basename="api-bot")
router.register(r"bots/(?P<bot_slug>[-a-zA-Z0-9_]+)/intents", IntentViewSet, basename="api-intent")
router.register(
    r"bots/(?P<bot_slug>[-a-zA-Z0-9_]+)/training-phrases", TrainingPhraseViewSet, basename="api-training-phrase"
)
router.register(r"bots/(?P<bot_slug>[-a-zA-Z0-9_]+)/entities", EntityTypeViewSet, basename="api-entity")

urlpatterns = router.urls
