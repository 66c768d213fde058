"""HTTP actions REST API, for admins (the `actions` model permissions, like bot configuration):

- `GET/POST /api/v1/bots/<slug>/actions`, `GET/PATCH/PUT/DELETE .../actions/<id>`: the bot's
  actions; headers are write-only, the POST answer carries the signing secret (shown once).
- `POST .../actions/<id>/rotate-secret`: a new signing secret, shown once.

The URL must be on the bot's action allowed hosts, as in the admin (actions/validation.py).
"""

from __future__ import annotations

from typing import Any, cast

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from actions.api.serializers import HttpActionCreatedSerializer, HttpActionSerializer
from actions.models import HttpAction
from actions.services.configuration import action_saved, action_signing_secret_rotate
from chatplatform.access.bot_in_path import BotInPathMixin
from chatplatform.access.permissions import BotConfigPermission

BOT_SLUG = OpenApiParameter("bot_slug", str, OpenApiParameter.PATH, description="The bot's slug.")


@extend_schema(parameters=[BOT_SLUG])
class HttpActionViewSet(BotInPathMixin, viewsets.ModelViewSet):
    serializer_class = HttpActionSerializer
    perm_model = HttpAction
    permission_classes = [BotConfigPermission]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[HttpAction]:
        if getattr(self, "swagger_fake_view", False):
            return HttpAction.objects.none()
        return HttpAction.objects.filter(bot=self.get_bot()).prefetch_related("intents").order_by("name")

    def get_serializer_context(self) -> dict[str, Any]:
        context = cast("dict[str, Any]", super().get_serializer_context())  # DRF builds a dict
        if not getattr(self, "swagger_fake_view", False):
            context["bot"] = self.get_bot()
        return context

    @extend_schema(request=HttpActionSerializer, responses={201: HttpActionCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        headers = serializer.validated_data.pop("headers", None)
        with transaction.atomic():
            created = serializer.save(bot=self.get_bot())
            secret = action_saved(action=created, headers=headers)
        body = HttpActionCreatedSerializer(created, context=self.get_serializer_context()).data
        return Response({**body, "signing_secret": secret}, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: Any) -> None:
        headers = serializer.validated_data.pop("headers", None)
        with transaction.atomic():
            action_saved(action=serializer.save(), headers=headers)

    @extend_schema(request=None, responses={200: HttpActionCreatedSerializer}, summary="A new signing secret")
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        target = self.get_object()
        secret = action_signing_secret_rotate(action=target)
        body = HttpActionSerializer(target, context=self.get_serializer_context()).data
        return Response({**body, "signing_secret": secret})
