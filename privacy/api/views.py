"""Erasure REST API, for admins (the `privacy` model permissions):

- `POST /api/v1/bots/<slug>/erasures` `{"visitor_id": "..."}` or `{"user_id": "..."}`: delete that
  person's data on the bot now; the 201 answer is the receipt (what was deleted).
- `GET /api/v1/bots/<slug>/erasures`: the receipts.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from chatplatform.access.bot_in_path import BotInPathMixin
from chatplatform.access.permissions import BotConfigPermission
from privacy.models import ErasureReceipt
from privacy.services.erasure import subject_erase

BOT_SLUG = OpenApiParameter("bot_slug", str, OpenApiParameter.PATH, description="The bot's slug.")


class ErasureReceiptSerializer(serializers.ModelSerializer):
    class Meta:
        model = ErasureReceipt
        fields = ("id", "subject_kind", "subject_digest", "deleted", "via", "created_at")
        read_only_fields = fields


class ErasureRequestSerializer(serializers.Serializer):
    visitor_id = serializers.CharField(max_length=64, required=False)
    user_id = serializers.CharField(max_length=200, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            raise serializers.ValidationError("Give exactly one of visitor_id and user_id.")
        return attrs


@extend_schema(parameters=[BOT_SLUG])
class ErasureViewSet(BotInPathMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = ErasureReceiptSerializer
    perm_model = ErasureReceipt
    permission_classes = [BotConfigPermission]

    def get_queryset(self) -> QuerySet[ErasureReceipt]:
        if getattr(self, "swagger_fake_view", False):
            return ErasureReceipt.objects.none()
        return ErasureReceipt.objects.filter(bot=self.get_bot())

    @extend_schema(
        request=ErasureRequestSerializer,
        responses={201: ErasureReceiptSerializer},
        summary="Erase one visitor's or customer's data on this bot (the answer is the receipt)",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ErasureRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ((kind, subject_id),) = body.validated_data.items()
        receipt = subject_erase(
            bot=self.get_bot(), kind=kind, subject_id=subject_id, requested_by=request.user, via=ErasureReceipt.Via.API
        )
        return Response(ErasureReceiptSerializer(receipt).data, status=status.HTTP_201_CREATED)
