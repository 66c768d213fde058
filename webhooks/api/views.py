"""Webhooks REST API, for admins (the `webhooks` model permissions, like bot configuration):

- `GET/POST /api/v1/bots/<slug>/webhooks/endpoints`, `GET/PATCH/DELETE .../endpoints/<id>`: the
  bot's endpoints; the POST answer carries the signing secret, the only time it is shown.
- `POST .../endpoints/<id>/rotate-secret`: a new secret (shown once; the old one signs a day more).
- `POST .../endpoints/<id>/enable`: back on after it was disabled for failing.
- `GET /api/v1/bots/<slug>/webhooks/deliveries` (`?endpoint=`, `?status=`), `POST
  .../deliveries/<id>/resend`: the delivery log and a new attempt with the same webhook-id.

The same without the bot (`/api/v1/webhooks/endpoints`, `/api/v1/webhooks/deliveries`): the
endpoints that receive the events of every bot, for admins who see every bot (a global endpoint
hears about all of them).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from chatplatform.access.bot_in_path import BotInPathMixin
from chatplatform.access.permissions import BotConfigPermission
from chatplatform.access.scoping import sees_all_bots
from webhooks.api.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
)
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services.delivery import deliveries_resend
from webhooks.services.endpoints import endpoint_create, endpoint_enable, endpoint_secret_rotate

BOT_SLUG = OpenApiParameter("bot_slug", str, OpenApiParameter.PATH, description="The bot's slug.")


ROTATE = "Rotate the signing secret (the new one is shown once; the old one signs a day more)"
ENABLE = "Turn a disabled endpoint back on (its failure count starts over)"
RESEND = "Send again (a new attempt with the same webhook-id)"
CREATED = {201: WebhookEndpointCreatedSerializer}


class _EndpointsBase(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Endpoints of one owner: a bot (`owner_bot_id` = its id) or every bot (None)."""

    serializer_class = WebhookEndpointSerializer
    perm_model = WebhookEndpoint
    permission_classes = [BotConfigPermission]
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def owner_bot_id(self) -> int | None:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        owner = self.owner_bot_id()
        mine = Q(bot__isnull=True) if owner is None else Q(bot_id=owner)
        return WebhookEndpoint.objects.filter(mine).order_by("pk")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = WebhookEndpointSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint, secret = endpoint_create(
            url=body.validated_data["url"],
            bot_id=self.owner_bot_id(),
            event_types=body.validated_data.get("event_types", []),
            description=body.validated_data.get("description", ""),
        )
        return Response({**WebhookEndpointSerializer(endpoint).data, "secret": secret}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: WebhookEndpointCreatedSerializer}, summary=ROTATE)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        secret = endpoint_secret_rotate(endpoint_id=endpoint.pk)
        endpoint.refresh_from_db()
        return Response({**WebhookEndpointSerializer(endpoint).data, "secret": secret})

    @extend_schema(request=None, summary=ENABLE)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        endpoint_enable(endpoint_id=endpoint.pk)
        endpoint.refresh_from_db()
        return Response(WebhookEndpointSerializer(endpoint).data)


class _DeliveriesBase(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = WebhookDeliverySerializer
    perm_model = WebhookDelivery
    permission_classes = [BotConfigPermission]
    lookup_value_regex = r"\d+"
    filterset_fields = ["endpoint", "status"]

    def owner_bot_id(self) -> int | None:
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        owner = self.owner_bot_id()
        mine = Q(endpoint__bot__isnull=True) if owner is None else Q(endpoint__bot_id=owner)
        rows = WebhookDelivery.objects.filter(mine)
        return rows.select_related("event").order_by("-pk")

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer}, summary=RESEND)
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        delivery = self.get_object()
        deliveries_resend(delivery_ids=[delivery.pk])
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class _EveryBot:
    """Global endpoints hear every bot's conversations: only for users who see every bot."""

    request: Any

    def owner_bot_id(self) -> None:
        if not sees_all_bots(self.request.user):
            raise PermissionDenied("Endpoints for every bot are for admins who see every bot.")
        return None


class _PathBot(BotInPathMixin):
    def owner_bot_id(self) -> int:
        return self.get_bot().pk


@extend_schema(parameters=[BOT_SLUG])
class WebhookEndpointViewSet(_PathBot, _EndpointsBase):
    @extend_schema(responses=CREATED, summary="Add a webhook endpoint (the answer holds its secret, shown once)")
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)


@extend_schema(parameters=[BOT_SLUG])
class WebhookDeliveryViewSet(_PathBot, _DeliveriesBase):
    """The delivery log of one bot's endpoints."""


class GlobalWebhookEndpointViewSet(_EveryBot, _EndpointsBase):
    @extend_schema(responses=CREATED, summary="Add an endpoint for every bot's events (its secret is shown once)")
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)


class GlobalWebhookDeliveryViewSet(_EveryBot, _DeliveriesBase):
    """The delivery log of the endpoints for every bot."""
