"""Knowledge base REST API.

- `GET/POST /api/v1/bots/<slug>/knowledge/documents`, `GET/DELETE .../documents/<id>`: admins
  (the `bots` model permissions on KnowledgeDocument, like the rest of bot configuration). An
  upload answers 202 at once: the worker parses, chunks and embeds; poll a document for its status.
- `POST /api/v1/bots/<slug>/knowledge/search`: the bot's own retrieval, for operators and tests;
  authenticated like the parse API (an API key of the bot, or a staff user who can see it) and
  counted against the same quota. The query is embedded in the worker (the web process loads no model).
"""

from __future__ import annotations

from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from django.db.models import Count, Q, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bots.models import KnowledgeDocument
from chatplatform.access.api_keys import ApiKeyAuthentication, StrictTokenAuthentication, bot_for_api_request
from chatplatform.access.bot_in_path import BotInPathMixin
from chatplatform.access.permissions import BotConfigPermission
from chatplatform.access.throttles import ApiQuotaThrottle
from knowledge.api.serializers import (
    KnowledgeDocumentSerializer,
    KnowledgeSearchResultSerializer,
    KnowledgeSearchSerializer,
    KnowledgeUploadSerializer,
)
from knowledge.ingestion.types import DocumentRejected
from knowledge.services.documents import document_delete, document_upload
from knowledge.tasks import knowledge_search
from nlu.api.views import BoundedJSONParser

SEARCH_TIMEOUT_SECONDS = 10
BOT_SLUG = OpenApiParameter("bot_slug", str, OpenApiParameter.PATH, description="The bot's slug.")
Status = KnowledgeDocument.Status


class KnowledgeDocumentViewSet(
    BotInPathMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = KnowledgeDocumentSerializer
    perm_model = KnowledgeDocument
    permission_classes = [BotConfigPermission]
    parser_classes = [MultiPartParser, FormParser]
    lookup_value_regex = r"\d+"
    filterset_fields = ["status", "kind"]

    def get_queryset(self) -> QuerySet[KnowledgeDocument]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reads the model, no request
            return KnowledgeDocument.objects.none()
        return (
            KnowledgeDocument.objects.filter(bot=self.get_bot(), collection__isnull=True)
            .defer("source", "text")
            .annotate(
                members_total=Count("members"),
                members_ready=Count("members", filter=Q(members__status=Status.READY)),
                members_failed=Count("members", filter=Q(members__status=Status.FAILED)),
            )
            .order_by("-created_at", "-pk")
        )

    @extend_schema(parameters=[BOT_SLUG], summary="List the bot's documents")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[BOT_SLUG], summary="One document, with its status")
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(parameters=[BOT_SLUG], summary="Delete a document and its chunks")
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        document_delete(document=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[BOT_SLUG],
        request={"multipart/form-data": KnowledgeUploadSerializer},
        responses={202: KnowledgeDocumentSerializer(many=True)},
        summary="Upload documents (processed in the worker)",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = KnowledgeUploadSerializer(data={"file": request.FILES.getlist("file")})
        body.is_valid(raise_exception=True)
        bot = self.get_bot()
        stored, refused = [], []
        for upload in body.validated_data["file"]:
            try:
                stored.append(document_upload(bot=bot, filename=upload.name or "", data=upload.read()))
            except DocumentRejected as exc:
                refused.append({"filename": upload.name, "detail": exc.reason})
        if refused and not stored:
            return Response({"detail": refused[0]["detail"], "refused": refused}, status=status.HTTP_400_BAD_REQUEST)
        documents = KnowledgeDocumentSerializer(stored, many=True).data
        return Response({"documents": documents, "refused": refused}, status=status.HTTP_202_ACCEPTED)


class KnowledgeSearchView(APIView):
    """The bot's hybrid retrieval (vector + full text, reciprocal-rank fusion), ranked."""

    authentication_classes = [ApiKeyAuthentication, StrictTokenAuthentication, SessionAuthentication]
    permission_classes: list[Any] = []
    throttle_classes = [ApiQuotaThrottle]
    parser_classes = [BoundedJSONParser]

    @extend_schema(
        request=KnowledgeSearchSerializer, responses={200: KnowledgeSearchResultSerializer}, tags=["knowledge"]
    )
    def post(self, request: Request, slug: str) -> Response:
        bot = bot_for_api_request(request, slug)
        body = KnowledgeSearchSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            results = knowledge_search.delay(bot.pk, body.validated_data["query"], body.validated_data["k"]).get(
                timeout=SEARCH_TIMEOUT_SECONDS
            )
        except CeleryTimeout:
            return Response(
                {"detail": "The search worker did not answer in time; is a worker running?"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "5"},
            )
        return Response({"results": results})
