"""Webhooks REST API, for admins (the `webhooks` model permissions, like bot configuration):

- `GET/POST /api/v1/bots/<slug>/webhooks/endpoints`, `GET/DELETE .../endpoints/<id>`: the bot's
  endpoints; the POST answer carries the signing secret, the only time it is shown.
- `POST .../endpoints/<id>/rotate-secret`: a new secret (shown once; the old one signs a day more).
- `GET /api/v1/bots/<slug>/webhooks/deliveries` (`?endpoint=`, `?status=`), `POST
  .../deliveries/<id>/resend`: the delivery log and a new attempt with the same webhook-id.

Endpoints for every bot (no bot) are managed in the Django admin only.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chatplatform.access.bot_in_path import BotInPathMixin
from chatplatform.access.permissions import BotConfigPermission
from webhooks.api.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointSerializer,
)
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services.delivery import deliveries_resend
from webhooks.services.endpoints import endpoint_create, endpoint_secret_rotate

BOT_SLUG = OpenApiParameter("bot_slug", str, OpenApiParameter.PATH, description="The bot's slug.")


class WebhookEndpointViewSet(
    BotInPathMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = WebhookEndpointSerializer
    perm_model = WebhookEndpoint
    permission_classes = [BotConfigPermission]
    lookup_value_regex = r"\d+"

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return WebhookEndpoint.objects.filter(bot=self.get_bot()).order_by("pk")

    @extend_schema(parameters=[BOT_SLUG], summary="List the bot's webhook endpoints")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[BOT_SLUG], summary="One webhook endpoint")
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(parameters=[BOT_SLUG], summary="Delete a webhook endpoint and its delivery log")
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)

    @extend_schema(
        parameters=[BOT_SLUG],
        request=WebhookEndpointSerializer,
        responses={201: WebhookEndpointCreatedSerializer},
        summary="Add a webhook endpoint (the answer holds its secret, shown once)",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = WebhookEndpointSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        endpoint, secret = endpoint_create(
            url=body.validated_data["url"],
            bot_id=self.get_bot().pk,
            event_types=body.validated_data.get("event_types", []),
            description=body.validated_data.get("description", ""),
        )
        return Response({**WebhookEndpointSerializer(endpoint).data, "secret": secret}, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[BOT_SLUG],
        request=None,
        responses={200: WebhookEndpointCreatedSerializer},
        summary="Rotate the signing secret (the new one is shown once; the old one signs a day more)",
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        endpoint = self.get_object()
        secret = endpoint_secret_rotate(endpoint_id=endpoint.pk)
        endpoint.refresh_from_db()
        return Response({**WebhookEndpointSerializer(endpoint).data, "secret": secret})


class WebhookDeliveryViewSet(BotInPathMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = WebhookDeliverySerializer
    perm_model = WebhookDelivery
    permission_classes = [BotConfigPermission]
    lookup_value_regex = r"\d+"
    filterset_fields = ["endpoint", "status"]

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        return WebhookDelivery.objects.filter(endpoint__bot=self.get_bot()).select_related("event").order_by("-pk")

    @extend_schema(parameters=[BOT_SLUG], summary="The delivery log of the bot's endpoints")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[BOT_SLUG], summary="One delivery")
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        parameters=[BOT_SLUG],
        request=None,
        responses={202: WebhookDeliverySerializer},
        summary="Send again (a new attempt with the same webhook-id)",
    )
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        delivery = self.get_object()
        deliveries_resend(delivery_ids=[delivery.pk])
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
